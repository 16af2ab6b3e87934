"""WORKERS=2: the local server runs two worker processes on one port, each answering predictions
and framing errors as the single-process server does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import AUTH, MULTICLASS, free_port, sample, url


def children(pid: int) -> list[int]:
    """The worker processes (multiprocessing's spawned children, not its resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in found if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_two_workers_answer_on_one_port(bucket, tmp_path):
    port = free_port()
    env = {**os.environ, "PORT": str(port), "WORKERS": "2", "LOG_LEVEL": "warning"}
    env.update(DRC_STORAGE_ROOT=str(bucket), DRC_POLICY_INTERVAL_SECONDS="0", DRC_MONITORING_ENABLED="false")
    env["DRC_CREDENTIALS_FILE"] = str(tmp_path / "credentials.yaml")
    process = subprocess.Popen(
        [sys.executable, "-m", "drcompat.api.server"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        answer = None
        while time.monotonic() < deadline:
            assert process.poll() is None, "the server exited"
            try:
                answer = httpx.post(
                    base + url(MULTICLASS),
                    content=sample("iris_multiclass"),
                    headers={**AUTH, "Content-Type": "text/csv"},
                    timeout=30,
                )
                break
            except httpx.TransportError:
                time.sleep(0.3)
        assert answer is not None and answer.status_code == 200
        assert {row["prediction"] for row in answer.json()["data"]} <= {"setosa", "versicolor", "virginica"}
        while len(children(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(children(process.pid)) == 2
        for _ in range(4):  # whichever worker takes it, a framing error is DataRobot-shaped
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                raw.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")
                reply = b""
                while chunk := raw.recv(4096):
                    reply += chunk
            assert reply.startswith(b"HTTP/1.1 400") and b'{"message":"Malformed HTTP request' in reply
    finally:
        os.killpg(process.pid, 15)
        process.wait(30)
