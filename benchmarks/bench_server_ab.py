"""A/B of local-server settings over HTTP: the same request against servers that differ only in
their environment, timed in interleaved rounds (so machine noise hits each alike).

Each ``NAME=value`` argument starts one server (`python -m drcompat.api.server`) with that
setting on the HTTP benchmark's bucket (``.bench/http``, built by `make bench-http`); one
``requests`` session per server posts the same CSV body, and the median time per request of each
is printed. For example, onnxruntime's spinning (see ``DRC_ONNX_ALLOW_SPINNING``):

    python benchmarks/bench_server_ab.py --features 300 --rows 500 \\
        DRC_ONNX_ALLOW_SPINNING=true DRC_ONNX_ALLOW_SPINNING=false
"""

from __future__ import annotations

import argparse
import statistics

import requests

from bench_http import TOKEN, body, build_models, deployment_id, per_request, start_ours, stop, wait_ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("settings", nargs="+", help="NAME=value, one server each")
    parser.add_argument("--features", type=int, choices=(30, 300), default=30)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=200, help="per server per round")
    args = parser.parse_args()
    build_models()
    data = body(args.features, args.rows)
    headers = {"Content-Type": "text/csv", "Authorization": f"Bearer {TOKEN}"}
    servers = []
    try:
        for setting in args.settings:
            name, _, value = setting.partition("=")
            port, process = start_ours({name: value})
            url = f"http://127.0.0.1:{port}/predApi/v1.0/deployments/{deployment_id(args.features)}/predictions"
            servers.append((setting, url, process, requests.Session()))
        for _, url, process, _ in servers:
            wait_ready(url, data, headers, process)
        times: dict[str, list[float]] = {setting: [] for setting, *_ in servers}
        for _ in range(args.rounds):
            for setting, url, _, session in servers:
                times[setting].append(per_request(session, url, data, headers, args.requests) * 1000)
        print(f"{args.features} features x {args.rows} rows, median of {args.rounds} interleaved rounds:")
        for setting, values in times.items():
            print(f"  {setting:40} {statistics.median(values):8.3f} ms per request")
    finally:
        for _, _, process, session in servers:
            session.close()
            stop(process)


if __name__ == "__main__":
    main()
