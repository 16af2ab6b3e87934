"""The local server's direct path (``api.direct_http``) answers exactly as the app does.

Every request is sent over a raw socket to two live servers, one answering plain prediction POSTs
in its protocol and one with ``direct_http`` off; the answers must match byte for byte but for
the date, the request id and the execution time. Requests the direct path must leave to the app
(CSV answers, compressed, chunked or slow bodies, Expect, HTTP/1.0, explanations) are checked
to be left, and still answered alike.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BINARY, REGRESSION, TOKEN, sample, url
from test_service_limits import Answers, Serving, connect

VARYING = {b"date", b"x-datarobot-request-id", b"x-datarobot-execution-time"}
CSV_ROW = b"age,sex,bmi,bp,s1,s2,s3,s4,s5,s6\n60.0,male,32.1,83.0,179.0,119.4,42.0,4.0,4.4773,94.0\n"


def raw_answer(sock: socket.socket) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
    """One answer off a raw socket (nothing pipelined behind it)."""
    return Answers(sock).next()


def request(path: str, body: bytes, content_type: str = "text/csv", version: str = "1.1", **extra: str) -> bytes:
    headers = {"Host": "127.0.0.1", "Authorization": f"Bearer {TOKEN}", "Content-Type": content_type}
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    headers.setdefault("Content-Length", str(len(body)))
    lines = [f"POST {path} HTTP/{version}", *(f"{k}: {v}" for k, v in headers.items() if v)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
def servers(bucket: Path) -> Iterator[tuple[Serving, Serving]]:
    from drcompat.config import Settings

    pair = []
    for direct in (True, False):
        settings = Settings(storage_root=bucket, registry_ttl_seconds=0.0, direct_http=direct)
        pair.append(Serving(settings))
    yield pair[0], pair[1]
    for server in pair:
        server.stop()


def answered_here(server: Serving) -> int:
    direct = server.config.app.state.direct_http  # type: ignore[attr-defined]
    return int(direct.answered)


def both(servers: tuple[Serving, Serving], raw: bytes) -> tuple[bool, tuple[bytes, list[tuple[bytes, bytes]], bytes]]:
    """Send ``raw`` to both servers; assert the answers match; whether the direct path took it."""
    direct, app = servers
    before = answered_here(direct)
    answers = []
    for server in (direct, app):
        with connect(server.port) as sock:
            sock.sendall(raw)
            answers.append(raw_answer(sock))
    (status, headers, body), (app_status, app_headers, app_body) = answers
    assert status == app_status
    assert [name for name, _ in headers] == [name for name, _ in app_headers]
    assert [h for h in headers if h[0] not in VARYING] == [h for h in app_headers if h[0] not in VARYING]
    assert body == app_body
    return answered_here(direct) > before, answers[0]


BINARY_URL = url(BINARY)
JSON_ROWS = (
    b'[{"age":60.0,"sex":"male","bmi":32.1,"bp":83.0,"s1":179.0,"s2":119.4,"s3":42.0,"s4":4.0,"s5":4.4773,"s6":94.0}]'
)
CASES = {
    "csv, one row": (request(BINARY_URL, CSV_ROW), True, b"200"),
    "csv, the sample": (request(BINARY_URL, sample("diabetes_binary")), True, b"200"),
    "json rows": (request(BINARY_URL, JSON_ROWS, "application/json"), True, b"200"),
    "a form's file (curl -F)": (
        request(
            BINARY_URL,
            b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="rows.csv"\r\n'
            b"Content-Type: text/csv\r\n\r\n" + CSV_ROW + b"\r\n--XyZ--\r\n",
            "multipart/form-data; boundary=XyZ",
        ),
        True,
        b"200",
    ),
    "query parameters": (request(BINARY_URL + "?passthroughColumns=age&passthroughColumns=sex", CSV_ROW), True, b"200"),
    "without the prefix": (request(f"/deployments/{BINARY}/predictions", CSV_ROW), True, b"200"),
    "regression": (request(url(REGRESSION), sample("diabetes_regression")), True, b"200"),
    "a wrong token": (request(BINARY_URL, CSV_ROW, Authorization="Bearer nope"), True, b"401"),
    "no token": (request(BINARY_URL, CSV_ROW, Authorization=""), True, b"401"),
    "an unknown deployment": (request(url("65f1a00000000000000000ff"), CSV_ROW), True, b"404"),
    "a malformed body": (request(BINARY_URL, b"age,sex\n1,2,3,4\n\x00"), True, b"400"),
    "an empty body": (request(BINARY_URL, b""), True, b"400"),
    # left to the app
    "a CSV answer": (request(BINARY_URL, CSV_ROW, Accept="text/csv"), False, b"200"),
    "a gzip body": (request(BINARY_URL, gzip.compress(CSV_ROW), Content_Encoding="gzip"), False, b"200"),
    "HTTP/1.0": (request(BINARY_URL, CSV_ROW, version="1.0"), False, b"200"),
    "Connection: close": (request(BINARY_URL, CSV_ROW, Connection="close"), False, b"200"),
    "a proxy's headers": (request(BINARY_URL, CSV_ROW, X_Forwarded_For="10.0.0.1"), False, b"200"),
    "explanations (scored on a thread)": (
        request(url(BINARY).replace("predictions", "predictionExplanations"), CSV_ROW),
        False,
        b"200",
    ),
    "an encoded path": (request(BINARY_URL.replace("predictions", "predicti%6Fns"), CSV_ROW), False, b"200"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_direct_path_answers_as_the_app_does(servers, name):
    raw, direct, status = CASES[name]
    taken, (status_line, headers, _) = both(servers, raw)
    assert taken is direct
    assert status_line.split()[1] == status
    assert len(dict(headers)[b"x-datarobot-request-id"]) == 32


def test_a_chunked_body_and_a_slow_body_are_handed_to_the_app(servers):
    direct, _ = servers
    before = answered_here(direct)
    chunked = request(BINARY_URL, b"", Content_Length="", Transfer_Encoding="chunked")
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(CSV_ROW), CSV_ROW)
    with connect(direct.port) as sock:
        sock.sendall(chunked + body)
        assert raw_answer(sock)[0].split()[1] == b"200"
        # Half the body, a pause past the hand-over, the rest: the app reads it and answers.
        whole = request(BINARY_URL, CSV_ROW)
        sock.sendall(whole[:-20])
        time.sleep(0.3)
        sock.sendall(whole[-20:])
        status, _, answer = raw_answer(sock)
        assert status.split()[1] == b"200" and b'"prediction"' in answer
    assert answered_here(direct) == before


def test_pipelined_requests_are_answered_in_order(servers):
    """Three requests in one write: the direct path, the app (a CSV answer), the direct path."""
    direct, _ = servers
    before = answered_here(direct)
    first = request(BINARY_URL, CSV_ROW)
    second = request(BINARY_URL, CSV_ROW, Accept="text/csv")
    third = request(url(REGRESSION), CSV_ROW)
    with connect(direct.port) as sock:
        sock.sendall(first + second + third)
        reader = Answers(sock)
        answers = [reader.next() for _ in range(3)]
    assert [a[0].split()[1] for a in answers] == [b"200", b"200", b"200"]
    assert answers[0][2].startswith(b'{"data":[')
    assert dict(answers[1][1])[b"content-type"].startswith(b"text/csv")
    assert len(json.loads(answers[2][2])["data"]) == 1
    assert answered_here(direct) - before == 1  # the third waited behind the app's answer


def test_many_requests_on_one_connection_and_a_head_left_open(servers):
    """Keep-alive holds across direct answers; a client gone mid-body breaks nothing."""
    direct, _ = servers
    with connect(direct.port) as sock:
        for _ in range(20):
            sock.sendall(request(BINARY_URL, CSV_ROW))
            assert raw_answer(sock)[0].split()[1] == b"200"
    with connect(direct.port) as sock:  # half a body, then gone
        sock.sendall(request(BINARY_URL, CSV_ROW)[:-10])
    with connect(direct.port) as sock:
        sock.sendall(request(BINARY_URL, CSV_ROW))
        assert raw_answer(sock)[0].split()[1] == b"200"


def test_without_the_setting_the_app_answers_everything(bucket):
    from drcompat.api import create_app
    from drcompat.config import Settings

    app = create_app(Settings(storage_root=bucket, direct_http=False))
    assert app.state.direct_http is None


def test_a_failure_in_the_direct_path_is_a_500_and_the_server_keeps_serving(servers, monkeypatch):
    direct, _ = servers
    routes = direct.config.app.state.direct_http  # type: ignore[attr-defined]

    def broken(*args: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(routes, "answer", broken)
    with connect(direct.port) as sock:
        sock.sendall(request(BINARY_URL, CSV_ROW))
        status, headers, body = raw_answer(sock)
    assert status.split()[1] == b"500" and b"secret" not in body
    assert json.loads(body) == {"message": "Internal server error."}
    assert dict(headers)[b"connection"] == b"close"
    monkeypatch.undo()
    with connect(direct.port) as sock:
        sock.sendall(request(BINARY_URL, CSV_ROW))
        assert raw_answer(sock)[0].split()[1] == b"200"


@pytest.mark.parametrize("handover", [2.0, 0.05])
def test_a_shutdown_while_a_body_arrives_answers_it_then_closes(bucket, monkeypatch, handover):
    """uvicorn's graceful shutdown: the request whose body is arriving (still with the direct
    path, or already handed to the app) is answered with Connection: close."""
    import drcompat.api.protocol as protocol
    from drcompat.config import Settings

    monkeypatch.setattr(protocol, "HANDOVER_SECONDS", handover)
    server = Serving(Settings(storage_root=bucket, registry_ttl_seconds=0.0))
    whole = request(BINARY_URL, CSV_ROW)
    with connect(server.port) as sock:
        sock.sendall(whole[:-20])
        time.sleep(0.1)
        server.server.should_exit = True
        time.sleep(0.5)  # (uvicorn checks should_exit every 0.1 s, then shuts connections down)
        sock.sendall(whole[-20:])
        status, headers, answer = raw_answer(sock)
        assert status.split()[1] == b"200" and b'"prediction"' in answer
        assert dict(headers)[b"connection"] == b"close"
        sock.settimeout(5)
        assert sock.recv(1) == b""
    server.thread.join(10)
    assert not server.thread.is_alive()
