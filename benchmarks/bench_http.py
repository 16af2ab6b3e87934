"""Request rate over HTTP against DRUM, on gradient-boosted ONNX models 30 and 300 features wide.

Both servers serve the same ONNX files (100 trees, one 2-D float input) generated into
``.bench/http``: our local service (``python -m drcompat.api.server``, one worker) and DataRobot's
DRUM (``drum server``, 1.18.1, its default gunicorn server with one worker, installed into its own
venv under ``.bench/peers`` on first use). One ``requests`` session per server posts the same CSV
body (``Content-Type: text/csv``); requests are interleaved in short alternating bursts so machine
noise hits both, and the median time per request of each is compared, for 1 and 500 rows.

    make bench-http       # or: python benchmarks/bench_http.py --rounds 7
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import requests
import yaml

from bench_batch import PEERS, free_port, venv

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".bench" / "http"
DRUM = ["datarobot-drum==1.18.1", "onnxruntime==1.31.1"]
TOKEN = "demo-token-0123456789abcdef"
TOKEN_SHA = "62fe28c41211d0bafcdc8362ab6957d32ae9663d3b819a02f391485441cb3e3b"
WIDTHS = (30, 300)
ROWS = (1, 500)


def model_id(width: int) -> str:
    return f"65f1b00000000000000{width:05d}"


def deployment_id(width: int) -> str:
    return f"65f1a00000000000000{width:05d}"


def build_models() -> None:
    """Two gradient-boosted binary classifiers (100 trees) as ONNX, and a bucket deploying them."""
    stamp = WORK / "bucket" / ".built"
    if stamp.exists():
        return
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingClassifier

    deployments = {}
    for width in WIDTHS:
        rng = np.random.default_rng(width)
        x = rng.normal(size=(1000, width)).astype(np.float32)
        y = (x[:, :5].sum(axis=1) + rng.normal(size=1000) > 0).astype(int)
        model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(x, y)
        onnx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
        folder = WORK / "bucket" / "models" / model_id(width)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.onnx").write_bytes(onnx.SerializeToString())
        meta = {
            "modelId": model_id(width),
            "name": f"gbm_{width}",
            "targetType": "Binary",
            "targetName": "y",
            "classLabels": [0, 1],
            "positiveClassLabel": 1,
            "negativeClassLabel": 0,
            "features": [{"name": f"f{j}", "type": "numeric"} for j in range(width)],
            "outputs": {"probabilities": "probabilities"},
        }
        (folder / "model.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
        deployments[deployment_id(width)] = {"label": f"GBM {width}", "modelId": model_id(width), "tokens": ["demo"]}
        code = WORK / f"drum_{width}"
        code.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / "model.onnx", code / "model.onnx")
    doc = {"tokens": {"demo": {"sha256": TOKEN_SHA}}, "deployments": deployments}
    (WORK / "bucket" / "deployments.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    stamp.touch()


def body(width: int, rows: int) -> bytes:
    rng = np.random.default_rng(rows * 1000 + width)
    values = np.round(rng.normal(size=(rows, width)), 4)
    lines = [",".join(f"f{j}" for j in range(width))] + [",".join(repr(float(v)) for v in row) for row in values]
    return ("\n".join(lines) + "\n").encode()


def wait_ready(url: str, data: bytes, headers: dict[str, str], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            if requests.post(url, data=data, headers=headers, timeout=10).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within 180 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_ours(settings: dict[str, str], log: Path | None = None) -> tuple[int, subprocess.Popen[bytes]]:
    """Our local server (one worker) on the benchmark bucket, with extra ``DRC_*`` settings."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "LOG_LEVEL": "warning", **settings}
    env.update(DRC_STORAGE_ROOT=str(WORK / "bucket"), DRC_POLICY_INTERVAL_SECONDS="0")
    output = log.open("wb") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "drcompat.api.server"],
        env=env,
        cwd=WORK,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return port, process


def per_request(session: requests.Session, url: str, data: bytes, headers: dict[str, str], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        answer = session.post(url, data=data, headers=headers, timeout=60)
        if answer.status_code != 200:
            raise RuntimeError(f"{url}: {answer.status_code} {answer.text[:200]}")
    return (time.perf_counter() - started) / count


def in_process() -> None:
    """1 row through the ASGI app in-process (no socket): 30 and 300 features, and the slope."""
    import bench_predict

    caller = bench_predict.AsgiCaller(WORK / "bucket", monitoring=True)
    best = {}
    for width in WIDTHS:
        bench_predict.DEPLOYMENT = deployment_id(width)
        data = body(width, 1)
        caller.post(data, b"text/csv")
        runs = []
        for _ in range(7):
            started = time.perf_counter()
            for _ in range(200):
                caller.post(data, b"text/csv")
            runs.append((time.perf_counter() - started) / 200 * 1000)
        best[width] = min(runs)
    slope = (best[300] - best[30]) / 270 * 1000
    print("In-process, 1 row through the ASGI app (fastest of 7 x 200 requests):")
    print(f"  30 features: {best[30]:.3f} ms   300 features: {best[300]:.3f} ms (goal: at most 0.5 ms)")
    print(f"  one more feature: {slope:.2f} us (goal: well under 1 us)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating bursts per case (the median counts)")
    parser.add_argument("--seconds", type=float, default=1.0, help="about this long per burst")
    args = parser.parse_args()
    python, problem = venv("drum", DRUM)
    if python is None:
        print(f"DRUM could not be installed into {PEERS / 'drum'}: {problem}")
        return
    build_models()
    in_process()
    logs = WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    csv = {"Content-Type": "text/csv"}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        port, ours = start_ours({}, logs / "ours.log")
        processes.append(ours)
        drums = {}
        for width in WIDTHS:
            drum_port = free_port()
            command = [str(python.parent / "drum"), "server", "--code-dir", str(WORK / f"drum_{width}")]
            command += ["--address", f"127.0.0.1:{drum_port}", "--target-type", "binary"]
            command += ["--positive-class-label", "1", "--negative-class-label", "0"]
            drum_env = {**os.environ, "HOME": str(WORK)}
            process = subprocess.Popen(
                command,
                env=drum_env,
                cwd=WORK,
                stdout=(logs / f"drum_{width}.log").open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            processes.append(process)
            drums[width] = (f"http://127.0.0.1:{drum_port}/predict/", process)
        auth = {**csv, "Authorization": f"Bearer {TOKEN}"}
        ours_url = f"http://127.0.0.1:{port}/predApi/v1.0/deployments/{{}}/predictions"
        for width in WIDTHS:
            wait_ready(ours_url.format(deployment_id(width)), body(width, 1), auth, ours)
            wait_ready(drums[width][0], body(width, 1), csv, drums[width][1])
        print(f"Requests per second over HTTP, one worker each, {args.rounds} interleaved rounds (median):")
        print(f"{'model':>12} {'rows':>5} {'ours/s':>9} {'DRUM/s':>9} {'ours/DRUM':>10}  {'max |p diff|':>12}")
        with requests.Session() as mine, requests.Session() as theirs:
            for width in WIDTHS:
                for rows in ROWS:
                    data = body(width, rows)
                    url = ours_url.format(deployment_id(width))
                    ours_p = [row["predictionValues"] for row in mine.post(url, data=data, headers=auth).json()["data"]]
                    theirs_p = theirs.post(drums[width][0], data=data, headers=csv).json()["predictions"]
                    # The same two probabilities per row (sorted: DRUM names the columns its own way).
                    ours_1 = np.sort([[v["value"] for v in row] for row in ours_p], axis=1)
                    theirs_1 = np.sort([[row["0"], row["1"]] for row in theirs_p], axis=1)
                    probe = per_request(theirs, drums[width][0], data, csv, 3)
                    count = max(3, min(200, int(args.seconds / probe)))
                    mine_t, theirs_t = [], []
                    for _ in range(args.rounds):
                        mine_t.append(per_request(mine, url, data, auth, count))
                        theirs_t.append(per_request(theirs, drums[width][0], data, csv, count))
                    a, b = statistics.median(mine_t), statistics.median(theirs_t)
                    diff = float(np.max(np.abs(ours_1 - theirs_1)))
                    print(f"{width:>9} ft {rows:>5} {1 / a:>9.1f} {1 / b:>9.1f} {b / a:>9.2f}x  {diff:>12.1e}")
    finally:
        for process in processes:
            stop(process)


if __name__ == "__main__":
    main()
