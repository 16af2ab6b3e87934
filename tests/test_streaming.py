"""The function-URL streaming door: a 20 MB CSV answer through the web-adapter bootstrap.

The Lambda Web Adapter is a binary that cannot run here; what it does is start ``run.sh`` and
relay each function-URL request to the app over HTTP on ``AWS_LWA_PORT``, streaming the answer
back (``AWS_LWA_INVOKE_MODE=response_stream``). These tests do the same over a real socket.
"""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import uvicorn

from conftest import BINARY, ROOT, TOKEN, free_port, sample
from drcompat.api import create_app
from drcompat.config import Settings
from drcompat.predict import PredictionRequest, PredictionService

PIECE_ROWS = 20_000
QUERY = "passthroughColumnsSet=all"
PATH = f"/predApi/v1.0/deployments/{BINARY}/predictions?{QUERY}"


def big_gzip_csv(min_answer_bytes: int = 20 * 1024 * 1024) -> tuple[bytes, int]:
    """A gzip CSV body (small on the wire, under Lambda's 6 MB request limit) whose CSV answer
    with every input column passed through is at least ``min_answer_bytes``."""
    header, rows = sample("diabetes_binary").split(b"\n", 1)
    rows = rows.strip() + b"\n"
    repeats = min_answer_bytes // (95 * 20) + 500  # ~95 answer bytes per row, 20 rows per sample
    return gzip.compress(header + b"\n" + rows * repeats, mtime=0), 20 * repeats


BIG_CELLS = 5_000_000


@pytest.fixture(scope="module")
def big_request() -> tuple[bytes, int, bytes]:
    """The body, its row count, and the buffered answer (one piece) to compare against."""
    body, rows = big_gzip_csv()
    request = PredictionRequest(
        deployment_id=BINARY,
        body=body,
        content_type="text/csv",
        content_encoding="gzip",
        accept="text/csv",
        authorization=f"Bearer {TOKEN}",
        query=[("passthroughColumnsSet", "all")],
    )
    buffered, media = PredictionService(Settings(max_cells=BIG_CELLS)).predict(request)
    assert isinstance(buffered, bytes) and media == "text/csv"
    assert len(buffered) > 20 * 1024 * 1024 and len(body) < 6 * 1024 * 1024
    return body, rows, buffered


def send_post(port: int, path: str, body: bytes, headers: dict[str, str], rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf:  # a small receive window: the server cannot run far ahead of what is read
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(60)
    sock.connect(("127.0.0.1", port))
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return sock


def read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the headers"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    return int(status_line.split()[1]), headers, rest


def read_all(sock: socket.socket, data: bytes) -> bytes:
    while chunk := sock.recv(1 << 20):
        data += chunk
    sock.close()
    return data


def dechunk(raw: bytes) -> tuple[bytes, int]:
    """Decode a chunked transfer body; also return how many chunks carried data."""
    body, count, at = bytearray(), 0, 0
    while True:
        end = raw.index(b"\r\n", at)
        size = int(raw[at:end].split(b";")[0], 16)
        at = end + 2
        if size == 0:
            return bytes(body), count
        body += raw[at : at + size]
        count += 1
        assert raw[at + size : at + size + 2] == b"\r\n"
        at += size + 2


HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Content-Type": "text/csv",
    "Content-Encoding": "gzip",
    "Accept": "text/csv",
}


@pytest.fixture
def bootstrap() -> Iterator[int]:
    """functions/predict/run.sh as the adapter starts it: the Lambda environment it relies on,
    the port in AWS_LWA_PORT, then poll the readiness path (/health) as the adapter does."""
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "predict"),
        "AWS_LWA_PORT": str(port),
        "POWERTOOLS_SERVICE_NAME": "drcompat-predict",
        "DRC_STREAM_CSV_ROWS": str(PIECE_ROWS),
        "DRC_MAX_CELLS": str(BIG_CELLS),  # the template raises the cap on the streaming door
    }
    process = subprocess.Popen(
        ["/bin/sh", str(ROOT / "functions" / "predict" / "run.sh")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "run.sh did not become ready"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                    probe.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if probe.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def test_run_sh_streams_a_20_mb_csv_answer_in_chunks(bootstrap, big_request):
    body, rows, buffered = big_request
    sock = send_post(bootstrap, PATH, body, HEADERS)
    status, headers, rest = read_head(sock)
    assert status == 200
    assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    assert headers["content-type"].startswith("text/csv")
    assert headers["x-datarobot-model-id"] and len(headers["x-datarobot-request-id"]) == 32
    streamed, chunks = dechunk(read_all(sock, rest))
    assert streamed == buffered  # the same bytes as the buffered answer
    assert chunks >= rows // PIECE_ROWS  # one chunk per piece of rows at least


def test_run_sh_answers_small_requests_in_one_piece(bootstrap):
    sock = send_post(
        bootstrap,
        f"/predApi/v1.0/deployments/{BINARY}/predictions",
        sample("diabetes_binary"),
        {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/csv", "Accept": "text/csv"},
    )
    status, headers, rest = read_head(sock)
    answer = read_all(sock, rest)
    assert status == 200 and int(headers["content-length"]) == len(answer)
    assert len(answer.decode().splitlines()) == 21
    sock = send_post(bootstrap, PATH, b"a,b\n1,2\n", {"Authorization": "Bearer wrong", "Content-Type": "text/csv"})
    status, _, rest = read_head(sock)
    assert status == 401 and read_all(sock, rest) == b'{"message":"Invalid API key."}'


def test_first_bytes_arrive_before_the_answer_is_all_encoded(big_request, monkeypatch):
    """The CSV encoder writes pieces as the client reads: with the client holding back after its
    first bytes, the server stops encoding well before the end (an encoder that wrote the whole
    answer before sending would have produced every byte before the first arrived)."""
    body, rows, buffered = big_request
    produced: list[int] = []  # characters of CSV text written so far, per to_csv call
    real_to_csv = pd.DataFrame.to_csv

    def counting_to_csv(frame: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        text = real_to_csv(frame, *args, **kwargs)
        produced.append(len(text or ""))
        return text

    monkeypatch.setattr(pd.DataFrame, "to_csv", counting_to_csv)
    app = create_app(Settings(stream_csv_rows=PIECE_ROWS, max_cells=BIG_CELLS), warm=True)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        sock = send_post(port, PATH, body, HEADERS, rcvbuf=64 * 1024)
        status, headers, rest = read_head(sock)
        assert status == 200 and headers["transfer-encoding"] == "chunked"
        while not rest:
            rest += sock.recv(4096)
        # Hold back until the server stops producing (bounded), then look at what it produced.
        last, deadline = -1, time.monotonic() + 30
        while len(produced) != last and time.monotonic() < deadline:
            last = len(produced)
            time.sleep(0.5)
        assert produced, "no piece produced although bytes arrived"
        assert sum(produced) < len(buffered) / 2, (sum(produced), len(buffered))
        streamed, chunks = dechunk(read_all(sock, rest))
        assert streamed == buffered and chunks >= len(produced)
        assert len(produced) == -(-rows // PIECE_ROWS) and sum(produced) == len(buffered)
    finally:
        server.should_exit = True
        thread.join(10)
