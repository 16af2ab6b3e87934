"""Per-event duration of the prediction function behind each front door, in-process.

For 1, 100 and 10,000 CSV rows on the binary demo deployment (JSON answers), the median time of:

* rest                - PredictFunction's handler (functions/predict/app.py: Powertools and the
                        direct path of src/drcompat_lambda/direct.py, logs and metrics included)
                        on the REST API's event (payload 1.0, base64 body);
* http-api            - the same handler on the HTTP API's event (payload 2.0);
* function-url        - the same handler on a function URL's event (FunctionUrlInvokeMode=BUFFERED);
* function-url-stream - functions/predict/run.sh (uvicorn, as the Lambda Web Adapter starts it)
                        answering the same request over a socket on 127.0.0.1, as the adapter
                        forwards it (RESPONSE_STREAM; the adapter's own hop is not included).

Each is shown next to the peer measured in the same run: the same request through the ASGI app
called directly (bench_predict's *ours*), so the ratio is what the door's adapter adds. *core* is
the prediction core alone (``PredictionService.predict`` on the same body: auth, parse, score,
encode); the handler's own cost per event is a Lambda door's time minus the core's.
Events come from scripts/make_events.py's builders, so they are the shapes the tests replay.
These are the durations `make cost` prices (Lambda bills them rounded up to the millisecond).
They are measured on this machine: a 1024 MB Lambda gets about 0.58 of a vCPU, so CPU-bound work
may take longer there; feed real durations (CloudWatch REPORT lines) to scripts/cost_table.py.

    make bench             # runs this after bench_predict.py
    python benchmarks/bench_lambda.py --json durations.json
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from bench_predict import DEPLOYMENT, AsgiCaller, make_rows
from drcompat.predict import PredictionRequest

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1, 100, 10_000)
DOORS = ("rest", "http-api", "function-url", "function-url-stream")
TOKEN = "Bearer demo-token-0123456789abcdef"
PATH = f"/predApi/v1.0/deployments/{DEPLOYMENT}/predictions"


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="PredictFunction",
        function_version="1",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:PredictFunction",
        memory_limit_in_mb=1024,
        aws_request_id="bench",
        log_group_name="g",
        log_stream_name="s",
        get_remaining_time_in_millis=lambda: 30_000,
    )


@contextlib.contextmanager
def run_sh() -> Iterator[http.client.HTTPConnection]:
    """Start functions/predict/run.sh as the web adapter would, and wait for /health."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "predict"),
        "AWS_LWA_PORT": str(port),
        "POWERTOOLS_SERVICE_NAME": "drcompat-predict",
        "DRC_STREAM_CSV_ROWS": "20000",
    }
    script = ROOT / "functions" / "predict" / "run.sh"
    process = subprocess.Popen(["/bin/sh", str(script)], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "run.sh did not start"
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                connection.request("GET", "/health")
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        yield connection
    finally:
        process.terminate()
        process.wait(10)


def measure(
    sizes: tuple[int, ...] = SIZES, doors: tuple[str, ...] = DOORS, rounds: int = 3
) -> dict[str, dict[str, Any]]:
    """{door: {rows: {"ms", "request_bytes", "response_bytes"}}} for the JSON answer to CSV rows.

    Doors are timed in turn, ``rounds`` times over, and each keeps its fastest call: on a shared
    machine (other processes, two cores) medians swing by tens of percent between runs, and the
    fastest call is the figure least disturbed by them. ``median_ms`` is kept alongside."""
    events = load(ROOT / "scripts" / "make_events.py", "make_events")
    predict = load(ROOT / "functions" / "predict" / "app.py", "bench_predict_app")
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
    for handler in logging.getLogger("drcompat-predict").handlers:
        handler.setStream(devnull)  # type: ignore[attr-defined]
    bodies = {n: make_rows(n).to_csv(index=False).encode() for n in sizes}
    caller = AsgiCaller()
    headers = {"Authorization": TOKEN, "Content-Type": "text/csv"}

    def lambda_call(event: dict) -> Callable[[], bytes]:
        def call() -> bytes:
            response = predict.handler(event, context())
            assert response["statusCode"] == 200, response["body"][:200]
            return str(response["body"]).encode()

        return call

    def socket_call(connection: http.client.HTTPConnection, body: bytes) -> Callable[[], bytes]:
        def post() -> bytes:
            connection.request("POST", PATH, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            assert response.status == 200, answer[:200]
            return answer

        return post

    results: dict[str, dict[str, Any]] = {door: {} for door in (*doors, "asgi", "core")}
    service = caller.app.state.service
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(devnull))  # the EMF metrics lines
        connection = stack.enter_context(run_sh()) if "function-url-stream" in doors else None
        calls: dict[tuple[str, int], Callable[[], bytes]] = {}
        for n, body in bodies.items():
            calls["asgi", n] = lambda body=body: caller.post(body, b"text/csv")
            request = PredictionRequest(DEPLOYMENT, body, "text/csv", authorization=TOKEN)
            calls["core", n] = lambda request=request: bytes(service.predict(request)[0])  # type: ignore[arg-type]
            for door in doors:
                if door == "rest":
                    calls[door, n] = lambda_call(events.api_event(DEPLOYMENT, body, "text/csv"))
                elif door == "function-url-stream":
                    assert connection is not None
                    calls[door, n] = socket_call(connection, body)
                else:
                    calls[door, n] = lambda_call(events.v2_event(door, DEPLOYMENT, body, "text/csv"))
        for (door, n), call in calls.items():
            results[door][str(n)] = {"request_bytes": len(bodies[n]), "response_bytes": len(call()), "ms": float("inf")}
        samples: dict[tuple[str, int], list[float]] = {key: [] for key in calls}
        for _ in range(rounds):
            for key, call in calls.items():
                started = time.perf_counter()
                while len(samples[key]) < 3 or (time.perf_counter() - started < 0.4 and len(samples[key]) < 500):
                    t0 = time.perf_counter()
                    call()
                    samples[key].append((time.perf_counter() - t0) * 1000)
        for (door, n), times in samples.items():
            results[door][str(n)].update(ms=min(times), median_ms=statistics.median(times))
    devnull.close()
    return results


def print_table(results: dict[str, dict[str, Any]], emit: Callable[[str], None] = print) -> None:
    sizes = sorted({int(n) for door in results.values() for n in door})
    header = f"{'door':20} | " + " ".join(f"{n:>7,} row{'s' if n != 1 else ' '} ms {'/asgi':>6}" for n in sizes)
    emit(header)
    emit("-" * len(header))
    peer = results.get("asgi")
    for door, by_size in results.items():
        cells = []
        for n in sizes:
            ms = by_size[str(n)]["ms"]
            ratio = f"{ms / peer[str(n)]['ms']:>5.2f}x" if peer else ""
            cells.append(f"{ms:>14.3f} {ratio:>6}")
        emit(f"{door:20} | " + " ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--json", type=Path, help="also write the durations here (for scripts/cost_table.py)")
    args = parser.parse_args()
    results = measure(tuple(args.sizes))
    print("Lambda handler time per event, by front door (fastest call; CSV rows in, JSON out)")
    print_table(results)
    core = results["core"]
    for door in ("rest", "http-api", "function-url"):
        own = [results[door][n]["ms"] - core[n]["ms"] for n in sorted(core, key=int) if n in results[door]]
        shown = ", ".join(f"{ms:.3f}" for ms in own)
        print(f"{door}: the handler's own cost per event beyond the prediction core: {shown} ms (goal: at most 0.5)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
