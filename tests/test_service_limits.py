"""The local server under load and abuse, over a real socket: off-loop scoring with bounded slots,
body and head timeouts, framing errors, the connection cap, keep-alive, disconnects, cell caps."""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from conftest import AUTH, BINARY, MULTICLASS, REGRESSION, TOKEN, free_port, sample, url
from drcompat.api import create_app
from drcompat.api.server import uvicorn_config
from drcompat.api.slots import widest_row
from drcompat.config import Settings
from drcompat.predict import PredictionRequest, PredictionService, Trace


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> dict[str, object]:
        return json.loads(self.body)


class Answers:
    """Answers read off one socket in order. Bytes past one answer are kept for the next:
    pipelined answers can arrive in one read."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def until(self, enough: Callable[[bytes], bool]) -> None:
        while not enough(self.buffer):
            chunk = self.sock.recv(65536)
            assert chunk, f"connection closed mid-answer: {self.buffer[:200]!r}"
            self.buffer += chunk

    def next(self) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
        """Status line, headers in order, body (Content-Length or chunked framing)."""
        self.until(lambda data: b"\r\n\r\n" in data)
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status, *lines = head.split(b"\r\n")
        headers = [(name.lower(), value.strip()) for name, value in (line.split(b":", 1) for line in lines)]
        fields = dict(headers)
        if fields.get(b"transfer-encoding") == b"chunked":
            body = b""
            while True:  # size line, data, CRLF; a zero size ends the body
                self.until(lambda data: b"\r\n" in data)
                start = self.buffer.index(b"\r\n") + 2
                size = int(self.buffer[: start - 2], 16)
                self.until(lambda data, end=start + size + 2: len(data) >= end)
                body += self.buffer[start : start + size]
                self.buffer = self.buffer[start + size + 2 :]
                if not size:
                    return status, headers, body
        length = int(fields.get(b"content-length", b"0"))
        self.until(lambda data: len(data) >= length)
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body


def read_reply(sock: socket.socket) -> Reply:
    """One HTTP/1.1 answer read off a raw socket."""
    status, headers, body = Answers(sock).next()
    fields = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers}
    return Reply(int(status.split()[1]), fields, body)


def closed_by_server(sock: socket.socket, within: float = 5.0) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def post_head(path: str, length: int, content_type: str = "text/csv") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def assert_datarobot_error(reply: Reply, status: int) -> str:
    assert reply.status == status
    assert reply.headers["content-type"] == "application/json"
    assert len(reply.headers["x-datarobot-request-id"]) == 32
    assert "x-datarobot-execution-time" in reply.headers
    assert reply.headers["access-control-allow-origin"] == "*"
    message = reply.json()["message"]
    assert isinstance(message, str) and message
    return message


class Serving:
    """A live server over a given app, stopped at the end of the test."""

    def __init__(self, settings: Settings, service: PredictionService | None = None) -> None:
        self.port = free_port()
        app = create_app(settings, service=service)
        self.config = uvicorn_config(app, settings, "127.0.0.1", self.port, "warning")
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def serve(bucket: Path) -> Iterator[object]:
    servers: list[Serving] = []

    def start(service_class: type[PredictionService] | None = None, **overrides: object) -> Serving:
        settings = Settings(storage_root=bucket, registry_ttl_seconds=0.0, **overrides)  # type: ignore[arg-type]
        service = service_class(settings) if service_class else None
        servers.append(Serving(settings, service))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


class GatedService(PredictionService):
    """Scoring that waits for the test to release it, and records which thread scored."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.threads: list[str] = []
        self.lock = threading.Lock()

    def predict(self, request: PredictionRequest, trace: Trace | None = None) -> tuple[bytes, str]:
        with self.lock:
            self.threads.append(threading.current_thread().name)
        if len(request.body) > 2000 or request.content_encoding:  # "large" here; small ones pass straight
            self.entered.release()
            assert self.release.wait(20)
        return super().predict(request, trace)


def big_csv(rows: int = 200) -> bytes:
    lines = sample("diabetes_binary").splitlines()
    return b"\n".join([lines[0], *(lines[1:] * (rows // (len(lines) - 1) + 1))[:rows]]) + b"\n"


def post_in_thread(port: int, body: bytes, results: list[tuple[int, bytes]]) -> threading.Thread:
    def run() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", url(BINARY), body=body, headers={**AUTH, "Content-Type": "text/csv"})
        response = connection.getresponse()
        results.append((response.status, response.read()))
        connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_health_and_small_requests_answer_while_a_large_body_is_scored(serve):
    server = serve(GatedService, inline_body_bytes=2000)
    service = server.config.app.state.service  # type: ignore[attr-defined]
    results: list[tuple[int, bytes]] = []
    large = post_in_thread(server.port, big_csv(), results)
    assert service.entered.acquire(timeout=10), "the large request never reached scoring"
    # the large request is now held mid-scoring; the event loop must still answer
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("GET", "/health")
    health = connection.getresponse()
    assert health.status == 200 and json.loads(health.read())["status"] == "ok"
    connection.request(
        "POST", url(BINARY), body=sample("diabetes_binary"), headers={**AUTH, "Content-Type": "text/csv"}
    )
    small = connection.getresponse()
    assert small.status == 200 and len(json.loads(small.read())["data"]) == 20
    connection.close()
    assert not results, "the large request finished although it was held"
    service.release.set()
    large.join(20)
    assert results[0][0] == 200 and len(json.loads(results[0][1])["data"]) == 200
    large_thread, small_thread = service.threads
    assert small_thread != large_thread  # small: on the event loop's thread; large: a worker


def test_large_bodies_wait_for_a_scoring_slot(serve):
    server = serve(GatedService, inline_body_bytes=2000, scoring_threads=1)
    service = server.config.app.state.service  # type: ignore[attr-defined]
    results: list[tuple[int, bytes]] = []
    first = post_in_thread(server.port, big_csv(), results)
    assert service.entered.acquire(timeout=10)
    second = post_in_thread(server.port, big_csv(300), results)
    assert not service.entered.acquire(timeout=1.0), "a second large body was scored beside the first"
    assert len(service.threads) == 1  # not even handed to the service: it waits before its body is read
    service.release.set()
    first.join(20)
    second.join(20)
    assert sorted(len(json.loads(body)["data"]) for _, body in results) == [200, 300]
    assert [status for status, _ in results] == [200, 200]


def test_gzip_bodies_are_scored_off_the_loop(serve):
    server = serve(GatedService)
    service = server.config.app.state.service  # type: ignore[attr-defined]
    results: list[tuple[int, bytes]] = []

    def run() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        headers = {**AUTH, "Content-Type": "text/csv", "Content-Encoding": "gzip"}
        connection.request("POST", url(BINARY), body=gzip.compress(big_csv()), headers=headers)
        response = connection.getresponse()
        results.append((response.status, response.read()))

    thread = threading.Thread(target=run)
    thread.start()
    assert service.entered.acquire(timeout=10)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("GET", "/health")
    assert connection.getresponse().status == 200
    service.release.set()
    thread.join(20)
    assert results[0][0] == 200


def wide_csv(extra_columns: int = 1500) -> bytes:
    lines = sample("diabetes_binary").splitlines()[:3]
    extra = [b",".join(b"x%d" % i for i in range(extra_columns))] + [b",".join([b"1"] * extra_columns)] * 2
    return b"\n".join(line + b"," + more for line, more in zip(lines, extra, strict=True)) + b"\n"


def test_a_small_but_wide_body_is_scored_off_the_loop(serve):
    server = serve(GatedService)  # default inline size: only the width sends it to a worker
    service = server.config.app.state.service  # type: ignore[attr-defined]
    results: list[tuple[int, bytes]] = []
    wide = post_in_thread(server.port, wide_csv(), results)
    assert service.entered.acquire(timeout=10)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("GET", "/health")
    assert connection.getresponse().status == 200
    service.release.set()
    wide.join(20)
    assert results[0][0] == 200 and len(json.loads(results[0][1])["data"]) == 2


@pytest.mark.parametrize(
    ("body", "content_type", "fields"),
    [
        (b"a,b,c\n1,2,3\n", "text/csv", 3),
        (b'[{"a":1,"b":2},{"a":3,"b":4,"c":5,"d":6}]', "application/json", 2),
        (
            b'--x\r\nContent-Disposition: form-data; name="file"\r\n\r\n' + b",".join([b"c"] * 50) + b"\n",
            "multipart/form-data; boundary=x",
            50,
        ),
    ],
)
def test_the_width_sniffed_for_the_inline_decision(body, content_type, fields):
    assert widest_row(body, content_type) == fields


def test_a_body_shorter_than_its_content_length_is_408(serve):
    server = serve(body_idle_timeout_seconds=0.5)
    with connect(server.port) as sock:
        started = time.monotonic()
        sock.sendall(post_head(url(BINARY), 1000) + b"age,sex\n")
        reply = read_reply(sock)
        message = assert_datarobot_error(reply, 408)
        assert "8 bytes received" in message and "0.5 seconds" in message
        assert reply.headers["connection"] == "close"
        assert time.monotonic() - started < 5
        assert closed_by_server(sock)


def test_a_trickled_body_is_cut_at_the_total_timeout(serve):
    server = serve(body_timeout_seconds=1.0, body_idle_timeout_seconds=0.5)
    with connect(server.port) as sock:
        started = time.monotonic()
        sock.sendall(post_head(url(BINARY), 10_000))
        sock.settimeout(0.2)
        answered = b""
        while time.monotonic() - started < 8 and not answered:
            try:
                sock.sendall(b"1")
                answered = sock.recv(65536, socket.MSG_PEEK)
            except TimeoutError:
                continue
            except OSError:
                break
        sock.settimeout(5)
        reply = read_reply(sock)
        assert_datarobot_error(reply, 408)
        assert 0.9 < time.monotonic() - started < 5  # cut by the 1 s total, though bytes kept coming


def test_a_slow_request_head_is_408_and_closed(serve):
    server = serve(header_timeout_seconds=0.5)
    with connect(server.port) as sock:
        sock.sendall(b"POST /health HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        message = assert_datarobot_error(read_reply(sock), 408)
        assert "headers" in message
        assert closed_by_server(sock)


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (post_head(url(BINARY), 10).replace(b"Content-Length: 10", b"Content-Length: -1"), 400, "Malformed"),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n", 400, "16384 bytes"),
        (b"GET /" + b"a" * 17000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "8192 bytes"),
        (b"NOT A REQUEST LINE\r\n\r\n", 400, "Malformed"),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "Malformed"),
    ],
    ids=["negative-content-length", "headers-over-16k", "request-line-over-16k", "bad-request-line", "two-lengths"],
)
def test_framing_errors_are_json_with_datarobot_headers(live_server, raw, status, words):
    port = int(live_server.rsplit(":", 1)[1])
    with connect(port) as sock:
        sock.sendall(raw)
        message = assert_datarobot_error(read_reply(sock), status)
        assert words in message
        assert closed_by_server(sock)
    with connect(port) as sock:  # and the server keeps serving
        sock.sendall(get("/health"))
        assert read_reply(sock).status == 200


def test_the_connection_cap_answers_503_when_no_connection_is_idle(serve):
    server = serve(max_connections=2, header_timeout_seconds=30)
    busy = [connect(server.port) for _ in range(2)]
    for sock in busy:  # mid-head: busy, not idle
        sock.sendall(b"GET /health HTTP/1.1\r\n")
    time.sleep(0.2)
    try:
        with connect(server.port) as sock:
            sock.sendall(get("/health"))
            reply = read_reply(sock)
            assert "2 connections" in assert_datarobot_error(reply, 503)
            assert reply.headers["retry-after"] == "1"
            assert closed_by_server(sock)
    finally:
        for sock in busy:
            sock.close()
    time.sleep(0.2)
    with connect(server.port) as sock:  # room again once they are gone
        sock.sendall(get("/health"))
        assert read_reply(sock).status == 200


def test_the_connection_cap_closes_the_longest_idle_keep_alive_connection_first(serve):
    server = serve(max_connections=2)
    idle = []
    for _ in range(2):
        sock = connect(server.port)
        sock.sendall(get("/health"))
        assert read_reply(sock).status == 200
        idle.append(sock)
        time.sleep(0.1)
    time.sleep(1.2)  # both idle past the eviction threshold
    with connect(server.port) as sock:
        sock.sendall(get("/health"))
        assert read_reply(sock).status == 200
    assert closed_by_server(idle[0])  # the oldest idle one made room
    idle[1].sendall(get("/health"))  # the other is still open and served
    assert read_reply(idle[1]).status == 200
    for sock in idle:
        sock.close()


def test_keep_alive_is_datarobots_600_seconds(settings):
    config = uvicorn_config(create_app(settings), settings, "127.0.0.1", 0)
    assert config.timeout_keep_alive == 600
    assert Settings().keep_alive_seconds == 600


def test_an_idle_connection_outlives_uvicorns_5_second_default(live_server):
    port = int(live_server.rsplit(":", 1)[1])
    with connect(port, timeout=15) as sock:
        sock.sendall(post_head(url(MULTICLASS), len(sample("iris_multiclass"))) + sample("iris_multiclass"))
        assert read_reply(sock).status == 200
        time.sleep(6.5)
        sock.sendall(get("/health"))  # the same socket, after longer than uvicorn's default
        assert read_reply(sock).status == 200


def test_client_disconnects_are_logged_at_info_never_as_errors(live_server, caplog):
    caplog.set_level(logging.INFO)
    port = int(live_server.rsplit(":", 1)[1])
    with connect(port) as sock:  # half a body, then gone
        sock.sendall(post_head(url(BINARY), 5000) + b"age,sex\n1,male\n")
        time.sleep(0.2)
    with connect(port) as sock:  # a JSON body cut short
        sock.sendall(post_head(url(REGRESSION), 5000, "application/json") + b'[{"age": 1')
    time.sleep(0.5)
    with connect(port) as sock:
        sock.sendall(get("/health"))
        assert read_reply(sock).status == 200
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    assert any("disconnect" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


def test_a_client_leaving_while_its_large_body_is_scored_is_no_error(serve, caplog):
    caplog.set_level(logging.INFO)
    server = serve(GatedService, inline_body_bytes=2000)
    service = server.config.app.state.service  # type: ignore[attr-defined]
    body = big_csv()
    with connect(server.port) as sock:
        sock.sendall(post_head(url(BINARY), len(body)) + body)
        assert service.entered.acquire(timeout=10)
    service.release.set()
    time.sleep(0.5)
    with connect(server.port) as sock:
        sock.sendall(get("/health"))
        assert read_reply(sock).status == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# --- the cell cap -------------------------------------------------------------------------------


@pytest.fixture
def capped(serve):
    return serve(max_cells=1000, max_columns=50)


def post(server, deployment: str, body: bytes, content_type: str = "text/csv", **headers: str) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("POST", url(deployment), body=body, headers={**AUTH, "Content-Type": content_type, **headers})
    response = connection.getresponse()
    reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    connection.close()
    return reply


def test_cells_over_the_cap_are_413_naming_the_limit(capped):
    ok = post(capped, BINARY, big_csv(90))  # 90 rows x 10 columns = 900 cells
    assert ok.status == 200
    message = assert_datarobot_error(post(capped, BINARY, big_csv(101)), 413)
    assert "101 rows x 10 columns = 1010 cells" in message and "1000 cells" in message
    assert "at most 100 rows" in message
    assert "x-datarobot-model-id" in post(capped, BINARY, big_csv(101)).headers


def test_an_oversized_csv_is_refused_before_it_is_parsed(capped):
    # rows past the cap that pandas could not even parse: a 413, not a 400, shows it never ran
    body = big_csv(200) + b"1,2,3,4,5,6,7,8,9,10,11,12\n" * 5
    assert post(capped, BINARY, body).status == 413
    wide = ",".join(f"c{i}" for i in range(100_000)).encode() + b"\n" + b"1," * 99_999 + b"1\n"
    started = time.monotonic()
    message = assert_datarobot_error(post(capped, BINARY, wide), 413)
    assert "100000 columns" in message and "50 columns" in message
    assert time.monotonic() - started < 2  # pandas takes seconds over 100k columns; it never saw them


def test_the_cap_holds_for_quoted_csv_json_gzip_and_multipart(capped):
    quoted = big_csv(150).replace(b"male", b'"male"')
    assert post(capped, BINARY, quoted).status == 413
    rows = [{"age": 1.0, "sex": "male", "bmi": 1.0, "bp": 1.0} | {f"s{i}": 1.0 for i in range(1, 7)}] * 101
    assert post(capped, BINARY, json.dumps(rows).encode(), "application/json").status == 413
    assert post(capped, BINARY, gzip.compress(big_csv(150)), "text/csv", **{"Content-Encoding": "gzip"}).status == 413
    boundary = "b0undary"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\n'.encode()
        + big_csv(150)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    assert post(capped, BINARY, multipart, f"multipart/form-data; boundary={boundary}").status == 413


# --- infinities ---------------------------------------------------------------------------------


def with_cell(csv: bytes, column: str, row: int, value: str) -> bytes:
    lines = csv.decode().splitlines()
    names = lines[0].split(",")
    cells = lines[row + 1].split(",")
    cells[names.index(column)] = value
    lines[row + 1] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e999"])
@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
def test_an_infinite_input_is_400_naming_column_and_row_in_every_format(client, value, accept):
    body = with_cell(sample("diabetes_regression"), "bmi", 3, value)
    response = client.post(
        url(REGRESSION), content=body, headers={**AUTH, "Content-Type": "text/csv", "Accept": accept}
    )
    assert response.status_code == 400
    message = response.json()["message"]
    assert "'bmi'" in message and "row 3" in message and "infinite" in message


@pytest.mark.parametrize(("value", "words"), [('"inf"', "'bmi'"), ('"-Infinity"', "'bmi'"), ("1e999", "infinity")])
def test_an_infinite_json_input_is_400_too(client, value, words):
    body = f'[{{"age":1,"bmi":{value},"bp":1,"s1":1,"s2":1,"s3":1,"s4":1,"s5":1,"s6":1}}]'.encode()
    response = client.post(url(REGRESSION), content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert words in response.json()["message"]  # a string names column and row; a bare 1e999 is not JSON


def test_a_non_finite_prediction_is_the_same_400_in_json_and_csv(bucket, client):
    from onnx_factory import linear_regression, point_deployment, publish

    publish(bucket, "65f1b00000000000000000ff", linear_regression([1e36] + [0.0] * 8, 0.0))  # age * 1e36
    point_deployment(bucket, REGRESSION, "65f1b00000000000000000ff", humilityRules=[])
    body = with_cell(sample("diabetes_regression"), "age", 2, "1000")  # 1e40: past float32
    answers = []
    for accept in ("application/json", "text/csv"):
        headers = {**AUTH, "Content-Type": "text/csv", "Accept": accept}
        response = client.post(url(REGRESSION), content=body, headers=headers)
        answers.append((response.status_code, response.json()["message"]))
    assert answers[0] == answers[1]
    assert answers[0][0] == 400 and "non-finite" in answers[0][1] and "row 2" in answers[0][1]
    finite = client.post(
        url(REGRESSION), content=sample("diabetes_regression"), headers={**AUTH, "Content-Type": "text/csv"}
    )
    assert finite.status_code == 200


def test_a_chunked_body_of_unknown_size_is_scored(live_server):
    port = int(live_server.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = big_csv(5000)
    chunks = (body[i : i + 4096] for i in range(0, len(body), 4096))
    connection.request(
        "POST", url(BINARY), body=chunks, headers={**AUTH, "Content-Type": "text/csv"}, encode_chunked=True
    )
    response = connection.getresponse()
    assert response.status == 200 and len(json.loads(response.read())["data"]) == 5000


class RecordingService(PredictionService):
    """Records the thread each request is scored on."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.threads: list[str] = []

    def predict(self, request: PredictionRequest, trace: Trace | None = None) -> tuple[bytes, str]:
        self.threads.append(threading.current_thread().name)
        return super().predict(request, trace)


@pytest.mark.parametrize(("everything_inline", "worker"), [(False, True), (True, False)])
def test_where_compressed_and_wide_bodies_are_scored(bucket, everything_inline, worker):
    import sys

    from fastapi.testclient import TestClient

    overrides = {"inline_body_bytes": sys.maxsize, "explain_inline": True} if everything_inline else {}
    settings = Settings(storage_root=bucket, registry_ttl_seconds=0.0, **overrides)  # type: ignore[arg-type]
    service = RecordingService(settings)
    with TestClient(create_app(settings, service=service)) as client:
        headers = {**AUTH, "Content-Type": "text/csv"}
        gzipped = client.post(
            url(BINARY),
            content=gzip.compress(sample("diabetes_binary")),
            headers={**headers, "Content-Encoding": "gzip"},
        )
        wide = client.post(url(BINARY), content=wide_csv(), headers=headers)
        small = client.post(url(BINARY), content=sample("diabetes_binary"), headers=headers)
    assert [gzipped.status_code, wide.status_code, small.status_code] == [200, 200, 200]
    on_worker = [name.startswith("AnyIO worker thread") for name in service.threads]
    assert on_worker == [worker, worker, False]  # the Lambda adapter's settings keep all inline
