"""Cold start: a fresh process answering its first Lambda event, next to the floor.

* ours  - a new interpreter imports functions/predict/app.py (settings, the prediction service,
          every bundled model but the time-series one loaded; the FastAPI app is built only for a
          non-prediction event) and answers events/predict-csv.json through the real handler
          (its direct path: no pandas, FastAPI or Mangum is imported for it);
* floor - a new interpreter imports onnxruntime and numpy, creates the same model's session and
          runs it once on the same rows (no HTTP, no parsing, no response).

Both are timed from process launch to exit, median of several runs, and printed with the ratio.

    make bench-coldstart      # or: python benchmarks/bench_coldstart.py --runs 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

OURS = """
import json, sys, types
sys.path.insert(0, {function!r})
import app
event = json.load(open({event!r}))
context = types.SimpleNamespace(function_name="PredictFunction", function_version="1", memory_limit_in_mb=1024,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:PredictFunction",
    aws_request_id="bench", log_group_name="g", log_stream_name="s", get_remaining_time_in_millis=lambda: 1000)
response = app.handler(event, context)
assert response["statusCode"] == 200, response
"""

FLOOR = """
import numpy as np
import onnxruntime as ort
session = ort.InferenceSession({model!r}, providers=["CPUExecutionProvider"])
feeds = {{}}
for item in session.get_inputs():
    if item.type == "tensor(string)":
        feeds[item.name] = np.array([["male"]] * 20, dtype=object)
    else:
        feeds[item.name] = np.full((20, 1), 50.0, dtype=np.float32)
session.run(None, feeds)
"""


def timed_process(program: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", program], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "bench"}
    ours_program = OURS.format(
        function=str(ROOT / "functions" / "predict"), event=str(ROOT / "events" / "predict-csv.json")
    )
    model = ROOT / "layers" / "models" / "models" / "65f1b0000000000000000001" / "model.onnx"
    floor_program = FLOOR.format(model=str(model))
    timed_process(floor_program, env)  # warm the OS file cache for both
    timed_process(ours_program, env)
    ours = [timed_process(ours_program, env) for _ in range(args.runs)]
    floor = [timed_process(floor_program, env) for _ in range(args.runs)]
    o, f = statistics.median(ours), statistics.median(floor)
    print(f"fresh process -> first answered event (median of {args.runs})")
    print(f"  ours  (import handler, warm bundled models, answer predict-csv.json): {o * 1000:7.1f} ms")
    print(f"  floor (import onnxruntime + numpy, create session, one run):          {f * 1000:7.1f} ms")
    print(f"  ratio ours/floor: {o / f:.2f}x")


if __name__ == "__main__":
    main()
