"""Dollars per million prediction requests, per front door and architecture, with SageMaker
Serverless Inference for the same work, from measured per-event durations and ``pricing.yaml``.

Durations are measured now by ``benchmarks/bench_lambda.py`` (the handler in-process on each
door's events of 1, 100 and 10,000 CSV rows), or read from ``--durations`` (that script's
``--json`` output, or the same shape filled from CloudWatch REPORT lines of a deployed stack).
Lambda bills duration rounded up to the millisecond at the function's memory (PredictMemorySize
in template.yaml unless ``--memory-mb``). SageMaker is priced for the app's own work (the ASGI
app called directly, no Lambda adapter) at its memory size (at least 1024 MB) plus its data
processing charge on request and answer bytes.

    make cost
    python scripts/cost_table.py --durations durations.json --memory-mb 2048
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import yaml

from bundle_sizes import TEMPLATE, CfnLoader

ROOT = Path(__file__).resolve().parent.parent
PRICING = ROOT / "pricing.yaml"
GIB = 2**30
DOORS = (  # (label, durations key, door)
    ("REST API", "rest", "rest"),
    ("HTTP API", "http-api", "http"),
    ("Function URL, buffered", "function-url", "url"),
    ("Function URL, streaming (web adapter)", "function-url-stream", "url"),
)


def default_memory_mb() -> int:
    template = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    return int(template["Parameters"]["PredictMemorySize"]["Default"])


def lambda_cost(prices: dict[str, Any], arch: str, memory_mb: int, ms: float, response_bytes: int) -> float:
    """One invocation: the request, the billed duration, and streamed bytes past 6 MB."""
    lam = prices["lambda"]
    billed_seconds = math.ceil(ms) / 1000
    streamed = max(0, response_bytes - 6 * 2**20) / GIB * lam["streamed_gb_beyond_6mb"]
    return lam["request_per_million"] / 1e6 + memory_mb / 1024 * billed_seconds * lam["gb_second"][arch] + streamed


def door_cost(prices: dict[str, Any], door: str, request_bytes: int) -> float:
    gateway = prices["api_gateway"]
    if door == "rest":
        return float(gateway["rest_per_million"]) / 1e6
    if door == "http":  # metered per started 512 KB of request
        return gateway["http_per_million"] / 1e6 * max(1, math.ceil(request_bytes / gateway["http_metering_bytes"]))
    return float(prices["function_url"]["request_per_million"]) / 1e6


def sagemaker_cost(prices: dict[str, Any], memory_mb: int, ms: float, moved_bytes: int) -> float:
    sm = prices["sagemaker_serverless"]
    memory = max(memory_mb, sm["min_memory_mb"])
    return memory / 1024 * math.ceil(ms) / 1000 * sm["gb_second"] + moved_bytes / GIB * sm["data_processed_per_gb"]


def table(durations: dict[str, dict[str, Any]], prices: dict[str, Any], memory_mb: int) -> list[str]:
    sizes = sorted({int(n) for door in durations.values() for n in door})
    head = " ".join(f"{n:>7,} row{'s' if n != 1 else ' '}" for n in sizes)
    lines = [
        f"$ per million prediction requests: {prices['region']} list prices of {prices['as_of']} (pricing.yaml), "
        f"function memory {memory_mb} MB",
        f"{'door':38} {'arch':7} | {head} | ms per event used",
        "-" * (62 + 13 * len(sizes)),
    ]
    for label, key, door in DOORS:
        if key not in durations:
            continue
        ms_used = " / ".join(f"{durations[key][str(n)]['ms']:.1f}" for n in sizes)
        for arch in ("arm64", "x86_64"):
            cells = []
            for n in sizes:
                event = durations[key][str(n)]
                per_request = lambda_cost(prices, arch, memory_mb, event["ms"], event["response_bytes"])
                per_request += door_cost(prices, door, event["request_bytes"])
                cells.append(f"{per_request * 1e6:>12.2f}")
            lines.append(f"{label:38} {arch:7} | {' '.join(cells)} | {ms_used}")
    if "asgi" in durations and "rest" in durations:
        sm_memory = max(memory_mb, prices["sagemaker_serverless"]["min_memory_mb"])
        cells, used = [], []
        for n in sizes:
            work, rest = durations["asgi"][str(n)], durations["rest"][str(n)]
            moved = rest["request_bytes"] + rest["response_bytes"]
            cells.append(f"{sagemaker_cost(prices, memory_mb, work['ms'], moved) * 1e6:>12.2f}")
            used.append(f"{work['ms']:.1f}")
        lines.append(f"{f'SageMaker Serverless ({sm_memory} MB)':38} {'-':7} | {' '.join(cells)} | {' / '.join(used)}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--durations", type=Path, help="bench_lambda.py --json output (default: measure now)")
    parser.add_argument("--memory-mb", type=int, default=None, help="function memory (default: PredictMemorySize)")
    parser.add_argument("--pricing", type=Path, default=PRICING)
    args = parser.parse_args()
    prices = yaml.safe_load(args.pricing.read_text())
    if args.durations:
        durations = json.loads(args.durations.read_text())
    else:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_lambda import measure, print_table

        durations = measure()
        print("Measured per-event durations (benchmarks/bench_lambda.py, fastest call):")
        print_table(durations)
        print()
    for line in table(durations, prices, args.memory_mb or default_memory_mb()):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
