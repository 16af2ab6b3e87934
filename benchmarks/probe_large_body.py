"""What one large request costs the local server, and whether it keeps answering meanwhile.

Starts ``python -m drcompat.api.server`` on a free port, posts one gzip CSV of N rows of the
binary demo (10 columns) while a second connection polls ``/health`` every 50 ms, and prints the
answer's status and time, the slowest ``/health`` answer during it, and the server's peak RSS.
Everything is bounded: one request, one poller, a 120 s timeout, the server stopped at the end.

    .venv/bin/python benchmarks/probe_large_body.py 200000    # 2,000,000 cells: at the cap
    .venv/bin/python benchmarks/probe_large_body.py 900000    # over the cap: a fast 413
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "layers" / "models" / "samples" / "diabetes_binary.csv"
PATH = "/predApi/v1.0/deployments/65f1a0000000000000000001/predictions"
AUTH = {"Authorization": "Bearer demo-token-0123456789abcdef"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int)
    rows = parser.parse_args().rows
    port = free_port()
    env = {**os.environ, "PORT": str(port), "LOG_LEVEL": "warning", "DRC_POLICY_INTERVAL_SECONDS": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "drcompat.api.server"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        lines = SAMPLE.read_bytes().splitlines()
        body = b"\n".join([lines[0], *(lines[1:] * (rows // (len(lines) - 1) + 1))[:rows]]) + b"\n"
        compressed = gzip.compress(body)
        print(f"{rows} rows x 10 columns: {len(body) / 1e6:.1f} MB of CSV, {len(compressed) / 1e6:.2f} MB gzip")
        print(f"server RSS before: {peak_rss_mb(server.pid)} MB")
        latencies: list[float] = []
        done = threading.Event()

        def poll() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while not done.is_set():
                started = time.perf_counter()
                connection.request("GET", "/health")
                connection.getresponse().read()
                latencies.append(time.perf_counter() - started)
                time.sleep(0.05)

        poller = threading.Thread(target=poll)
        poller.start()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {**AUTH, "Content-Type": "text/csv", "Content-Encoding": "gzip"}
        started = time.perf_counter()
        connection.request("POST", PATH, body=compressed, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        elapsed = time.perf_counter() - started
        done.set()
        poller.join(30)
        print(f"answer: {response.status} in {elapsed:.2f} s ({len(answer) / 1e6:.1f} MB) {answer[:100]!r}")
        print(f"/health during it: {len(latencies)} answers, slowest {max(latencies) * 1000:.0f} ms")
        print(f"server peak RSS: {peak_rss_mb(server.pid)} MB")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
