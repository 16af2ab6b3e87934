"""End-to-end request time against bare onnxruntime and against the standalone floor.

For 1, 100, 10,000 and 100,000 rows of CSV and of JSON, on the binary demo model (a full
preprocessing pipeline with 60 boosted trees), prints the median time of:

* ours  - a POST through the ASGI app in-process (middleware, auth, parse, coerce, score, encode);
* bare  - onnxruntime's ``session.run`` on ready-made inputs (no parsing, no response);
* floor - the fastest standalone parse + ``session.run`` + serialisation of the same response rows
          (DataRobot's JSON shape) that this script can find, among pandas' C CSV reader or
          orjson + DataFrame for parsing and orjson over plain dicts for the response;
* raw   - the same parse + run, serialising only the bare probability array (a lower bound that
          skips most of the response bytes: not the same rows, shown for context);

as ratios, with the peak Python-heap memory (tracemalloc) of ours and the floor. Then the cost of
monitoring's capture: the same 1-, 100- and 10,000-row request with capture on and off, timed in
alternating rounds in the same process, as ratios of the medians and of the means (the
background flushes run during the measurement, so the means carry their share).

    make bench            # or: python benchmarks/bench_predict.py --sizes 1 100 10000
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
import pandas as pd

from drcompat.api import create_app
from drcompat.config import Settings

ROOT = Path(__file__).resolve().parent.parent
BUCKET = ROOT / "layers" / "models"
DEPLOYMENT = "65f1a0000000000000000001"
MODEL = BUCKET / "models" / "65f1b0000000000000000001" / "model.onnx"
TOKEN = b"Bearer demo-token-0123456789abcdef"  # the documented public demo token


def make_rows(n: int) -> pd.DataFrame:
    base = pd.read_csv(BUCKET / "samples" / "diabetes_binary.csv")
    rng = np.random.default_rng(7)
    frame = base.sample(n, replace=True, random_state=7).reset_index(drop=True)
    numeric = frame.columns.drop("sex")
    frame[numeric] = (frame[numeric] * rng.uniform(0.9, 1.1, size=(n, len(numeric)))).round(4)
    return frame


class AsgiCaller:
    """Drive the ASGI app directly: the request's full server-side path with no client overhead."""

    def __init__(self, root: Path = BUCKET, monitoring: bool = True) -> None:
        # 100,000 JSON rows pass the 10 MB gateway default: lift the limits for the measurement.
        limits = {"max_body_bytes": 1 << 28, "max_decompressed_bytes": 1 << 28}
        settings = Settings(storage_root=root, monitoring_enabled=monitoring, **limits)
        self.app = create_app(settings, warm=True)
        # The loop runs on the main thread, as uvicorn's and Mangum's do.
        self.loop = asyncio.new_event_loop()

    def post(self, body: bytes, content_type: bytes) -> bytes:
        return self.loop.run_until_complete(self._post(body, content_type))

    async def _post(self, body: bytes, content_type: bytes) -> bytes:
        path = f"/predApi/v1.0/deployments/{DEPLOYMENT}/predictions"
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"authorization", TOKEN),
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        sent = False
        chunks: list[bytes] = []
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        assert status == [200], (status, b"".join(chunks)[:200])
        return b"".join(chunks)


def feeds_from(frame: pd.DataFrame, session: ort.InferenceSession) -> dict[str, np.ndarray]:
    return {
        i.name: (
            frame[i.name].astype(str).to_numpy(dtype=object)
            if i.type == "tensor(string)"
            else frame[i.name].to_numpy(dtype=np.float32)
        ).reshape(-1, 1)
        for i in session.get_inputs()
    }


def datarobot_rows(probabilities: np.ndarray) -> bytes:
    """The same response rows as the service (positive class first), the plain way."""
    rows = [
        {
            "predictionValues": [{"label": 1, "value": p1}, {"label": 0, "value": p0}],
            "predictionThreshold": 0.5,
            "prediction": 1 if p1 >= 0.5 else 0,
            "rowId": i,
        }
        for i, (p0, p1) in enumerate(probabilities.tolist())
    ]
    return orjson.dumps({"data": rows})


def raw_arrays(probabilities: np.ndarray) -> bytes:
    return orjson.dumps({"data": probabilities}, option=orjson.OPT_SERIALIZE_NUMPY)


def parsers(fmt: str) -> dict[str, Callable[[bytes], pd.DataFrame]]:
    if fmt == "csv":
        return {
            "read_csv(c)": lambda body: pd.read_csv(io.BytesIO(body)),
            "read_csv(c, str sex)": lambda body: pd.read_csv(io.BytesIO(body), dtype={"sex": str}),
        }
    return {
        "orjson+DataFrame": lambda body: pd.DataFrame(orjson.loads(body)),
        "orjson+from_records": lambda body: pd.DataFrame.from_records(orjson.loads(body)),
    }


def pipelines(
    session: ort.InferenceSession, fmt: str, serialise: Callable[[np.ndarray], bytes]
) -> dict[str, Callable[[bytes], bytes]]:
    """Standalone parse + run + serialise pipelines; the fastest one is the floor."""

    def pipeline(parse: Callable[[bytes], pd.DataFrame]) -> Callable[[bytes], bytes]:
        return lambda body: serialise(session.run(["probabilities"], feeds_from(parse(body), session))[0])

    return {name: pipeline(parse) for name, parse in parsers(fmt).items()}


def fastest(candidates: dict[str, Callable[[bytes], bytes]], body: bytes) -> tuple[str, float]:
    times = {name: timed(lambda fn=fn: fn(body)) for name, fn in candidates.items()}
    name = min(times, key=times.__getitem__)
    return name, times[name]


def timed(fn: Callable[[], object], budget: float = 1.5, max_reps: int = 300) -> float:
    fn()  # warm-up
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - started < budget and len(times) < max_reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_mib(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def capture_cost(root: Path, sizes: list[int], rounds: int = 20, requests: int = 800) -> None:
    """Capture on vs off over the same rows, alternating rounds so drift on the machine hits both.
    The median is the request's own share; the mean also carries the background flushes, which
    run while later requests score (one every 50,000 rows: every 5th request at 10,000 rows)."""
    on, off = AsgiCaller(root, monitoring=True), AsgiCaller(root, monitoring=False)
    print()
    print(f"{'capture':8} {'rows':>6} | {'on ms':>8} {'off ms':>8} | {'on/off':>7} {'mean on/off':>12}")
    for n in sizes:
        body = make_rows(n).to_csv(index=False).encode()
        times: dict[str, list[float]] = {"on": [], "off": []}
        reps = max(5, requests // rounds // max(1, n // 1000))
        for caller in (on, off):
            caller.post(body, b"text/csv")
        for _ in range(rounds):
            for name, caller in (("on", on), ("off", off)):
                for _ in range(reps):
                    t0 = time.perf_counter()
                    caller.post(body, b"text/csv")
                    times[name].append(time.perf_counter() - t0)
        t_on, t_off = statistics.median(times["on"]), statistics.median(times["off"])
        mean = statistics.mean(times["on"]) / statistics.mean(times["off"])
        print(
            f"{'csv':8} {n:>6} | {t_on * 1e3:>8.3f} {t_off * 1e3:>8.3f} | {t_on / t_off:>6.3f}x {mean:>11.3f}x",
            flush=True,
        )
    sink = on.app.state.service.sink
    written = sink.flush() if sink is not None else 0
    print(f"(capture flushed {written} more part(s) at the end; {sink.dropped if sink else 0} records dropped)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 10_000, 100_000])
    parser.add_argument("--formats", nargs="+", default=["csv", "json"], choices=["csv", "json"])
    parser.add_argument("--capture-only", action="store_true", help="only measure monitoring's capture cost")
    args = parser.parse_args()
    # A private copy of the bucket: monitoring writes its records there, never into the checkout.
    root = Path(tempfile.mkdtemp(prefix="drcompat-bench-"))
    try:
        shutil.copytree(BUCKET, root / "bucket", ignore=shutil.ignore_patterns("monitoring"))
        if not args.capture_only:
            table(args, root / "bucket")
        capture_cost(root / "bucket", [1, 100, 10_000])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def table(args: argparse.Namespace, root: Path) -> None:
    caller = AsgiCaller(root)
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    header = f"{'format':6} {'rows':>7} | {'ours ms':>9} {'bare ms':>9} {'floor ms':>9} {'raw ms':>8} | "
    header += (
        f"{'ours/bare':>9} {'ours/floor':>10} {'ours/raw':>9} | {'peak MiB ours':>13} {'floor':>7}   floor pipeline"
    )
    print(header)
    print("-" * len(header))
    for fmt in args.formats:
        for n in args.sizes:
            frame = make_rows(n)
            if fmt == "csv":
                body, content_type = frame.to_csv(index=False).encode(), b"text/csv"
            else:
                body, content_type = frame.to_json(orient="records").encode(), b"application/json"
            feeds = feeds_from(frame, session)
            ours = timed(lambda body=body, content_type=content_type: caller.post(body, content_type))
            bare = timed(lambda feeds=feeds: session.run(["probabilities"], feeds))
            candidates = pipelines(session, fmt, datarobot_rows)
            floor_name, floor = fastest(candidates, body)
            _, raw = fastest(pipelines(session, fmt, raw_arrays), body)
            ours_mem = peak_mib(lambda body=body, content_type=content_type: caller.post(body, content_type))
            floor_mem = peak_mib(lambda fn=candidates[floor_name], body=body: fn(body))
            print(
                f"{fmt:6} {n:>7} | {ours * 1e3:>9.3f} {bare * 1e3:>9.3f} {floor * 1e3:>9.3f} {raw * 1e3:>8.3f} | "
                f"{ours / bare:>8.2f}x {ours / floor:>9.2f}x {ours / raw:>8.2f}x | "
                f"{ours_mem:>13.1f} {floor_mem:>7.1f}   {floor_name}",
                flush=True,
            )


if __name__ == "__main__":
    main()
