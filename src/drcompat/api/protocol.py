"""uvicorn's HTTP/1.1 protocol (httptools) with the limits and answers the local server needs.

What uvicorn answers itself, before any ASGI app runs, becomes DataRobot-shaped here: a framing
error (``Content-Length: -1``, a bad request line, a head over ``max_header_bytes``) is a JSON 400
(414 when the request line alone is over ``max_request_line``) with the X-DataRobot-* and CORS headers, not plain
text. It also adds what uvicorn lacks: a deadline for a request head once it starts arriving
(a slow trickle of headers is answered 408 and closed), an idle timer on fresh connections, and a
connection cap that first closes the longest-idle keep-alive connection to make room and only
then answers 503.

httptools (llhttp, in C) rather than h11 (pure Python): measured with the same client, it takes
0.05-0.25 ms off each request and about 0.6 ms off a 1 MB body (``make bench-http``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HIGH_WATER_LIMIT, STATUS_LINE, HttpToolsProtocol

from drcompat.api.direct_http import HANDOVER_SECONDS, DirectPredictions, Pending
from drcompat.api.middleware import CORS_HEADERS, DataRobotHeaders, Message, Receive, Scope, Send

log = logging.getLogger("drcompat.api")
# A connection idle at least this long may be closed to let a new one in when the cap is reached.
EVICTABLE_AFTER_SECONDS = 1.0


def raw_response(status: int, message: str, extra: list[tuple[bytes, bytes]], elapsed_ms: float) -> bytes:
    """A complete ``Connection: close`` JSON answer, written straight to the socket."""
    body = orjson.dumps({"message": message})
    headers = [
        *extra,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *CORS_HEADERS,
        (b"x-datarobot-execution-time", str(round(elapsed_ms)).encode()),
        (b"x-datarobot-request-id", uuid.uuid4().hex.encode()),
    ]
    return STATUS_LINE[status] + b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n" + body


def over_capacity(limit: int) -> Any:
    """The ASGI app a connection over the cap is answered with: 503, then the connection closes."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = orjson.dumps({"message": f"The server is at its limit of {limit} connections: retry shortly."})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"retry-after", b"1"),
        ]
        start: Message = {"type": "http.response.start", "status": 503, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": body})

    return DataRobotHeaders(app)


class RefusalLog:
    """One warning per second at most under a flood, with the count since the last one."""

    def __init__(self) -> None:
        self.count = 0
        self.last = 0.0

    def note(self, limit: int) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= 1.0:
            log.warning("connection limit (%d) reached: answered 503 to %d connection(s)", limit, self.count)
            self.count, self.last = 0, now


refused = RefusalLog()


class LimitedProtocol(HttpToolsProtocol):
    """Configured per server by :func:`protocol_class` (uvicorn instantiates it per connection)."""

    max_connections: ClassVar[int] = 200
    header_timeout: ClassVar[float] = 10.0
    max_header_bytes: ClassVar[int] = 16 * 1024
    max_request_line: ClassVar[int] = 8192
    direct: ClassVar[DirectPredictions | None] = None  # prediction POSTs answered here (api.direct_http)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.pending: Pending | None = None  # a prediction POST taken by the direct path, body arriving
        self.handover_timer: asyncio.TimerHandle | None = None
        self.close_after_answer = False
        self.over_capacity = False
        self.head_started = 0.0
        self.head_timer: asyncio.TimerHandle | None = None
        self.awaiting_head = True  # the next bytes start (or continue) a request head
        self.partial_head = b""  # a head's bytes so far, while it is incomplete (bounded)
        self.idle_since: float | None = time.monotonic()
        # uvicorn arms its keep-alive timer only after a response: a silent new connection would
        # otherwise stay open for ever.
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)
        if len(self.connections) > self.max_connections:
            self.close_idle_connection()
        if len(self.connections) > self.max_connections:
            refused.note(self.max_connections)
            self.app = over_capacity(self.max_connections)
            self.over_capacity = True

    def close_idle_connection(self) -> None:
        now = time.monotonic()
        idle = [
            c
            for c in self.connections
            if isinstance(c, LimitedProtocol)
            and c is not self
            and c.idle_since is not None
            and now - c.idle_since >= EVICTABLE_AFTER_SECONDS
        ]
        if idle:
            oldest = min(idle, key=lambda c: c.idle_since or now)
            log.info("connection limit reached: closing a connection idle for %.0f s", now - (oldest.idle_since or now))
            oldest.transport.close()
            self.connections.discard(oldest)  # closing completes later: count it gone now

    def connection_lost(self, exc: Exception | None) -> None:
        self.cancel_head_timer()
        if self.pending is not None:
            self.cancel_handover()
            self.pending = None
            log.info("client disconnected before the answer was sent: POST %s", self.url.decode("latin-1"))
        elif self.cycle is not None and not self.cycle.response_complete:
            log.info("client disconnected before the answer was sent: %s %s", self.scope["method"], self.scope["path"])
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.idle_since = None
        if self.awaiting_head:  # httptools has no limit on a head's size: measure it here
            buffered = self.partial_head + data
            end = buffered.find(b"\r\n\r\n")
            if (end if end >= 0 else len(buffered)) > self.max_header_bytes:
                self.refuse_head(buffered)
                return
            self.partial_head = buffered if end < 0 else b""
        super().data_received(data)
        if self.pending is not None and self.handover_timer is None:  # a body left to arrive
            self.handover_timer = self.loop.call_later(HANDOVER_SECONDS, self.hand_over, False)
        if self.transport.is_closing() or not self.awaiting_head:
            self.cancel_head_timer()
        elif self.partial_head and self.head_timer is None:
            self.head_started = time.perf_counter()
            self.head_timer = self.loop.call_later(self.header_timeout, self.head_timed_out)

    def on_headers_complete(self) -> None:
        self.awaiting_head = False
        self.partial_head = b""
        self.cancel_head_timer()
        self.pending = self.take_direct()  # (its hand-over timer starts if the read ends mid-body)
        if self.pending is None:
            super().on_headers_complete()

    def take_direct(self) -> Pending | None:
        """A prediction POST the direct path answers: a plain HTTP/1.1 keep-alive request, none
        before it still being answered (pipelining), on a connection within the cap."""
        parser = self.parser
        if (
            self.direct is None
            or self.over_capacity
            or (self.cycle is not None and not self.cycle.response_complete)
            or self.expect_100_continue
            or self.root_path
            or parser.get_http_version() != "1.1"
            or not parser.should_keep_alive()
            or parser.should_upgrade()
        ):
            return None
        url = httptools.parse_url(self.url)
        return self.direct.take(parser.get_method(), url.path, url.query or b"", self.headers)

    def on_body(self, body: bytes) -> None:
        if self.pending is not None:
            self.pending.parts.append(body)
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.awaiting_head = True
        pending = self.pending
        if pending is None:
            super().on_message_complete()
            return
        self.pending = None
        self.cancel_handover()
        assert self.direct is not None
        try:
            answer = self.direct.answer(pending, self.server_state.default_headers)
        except Exception:  # (the endpoint answers its own errors: this is a bug here, never a 400)
            log.exception("the direct path failed to answer %s", pending.target())
            self.write_and_close(500, "Internal server error.")
            return
        if answer is None:  # too wide to score on the loop: the app scores it on a worker thread
            self.start_app(pending, complete=True)
            return
        if self.transport.is_closing():
            return  # the client left while its request was scored (the endpoint recorded it)
        status, head, body = answer
        if self.access_log:
            client = f"{self.client[0]}:{self.client[1]}" if self.client else ""  # (uvicorn's format)
            self.access_logger.info('%s - "%s %s HTTP/%s" %d', client, "POST", pending.target(), "1.1", status)
        if self.close_after_answer:  # (the server is shutting down: as uvicorn says it)
            head = head[:-2] + b"connection: close\r\n\r\n"
        self.transport.write(STATUS_LINE[status] + head)
        self.transport.write(body)
        if self.close_after_answer:
            self.transport.close()
        self.on_response_complete()

    def hand_over(self, complete: bool) -> None:
        """The body is still arriving: the app takes the request, with what came so far."""
        self.handover_timer = None
        pending, self.pending = self.pending, None
        if pending is not None and not self.transport.is_closing():
            self.start_app(pending, complete)

    def start_app(self, pending: Pending, complete: bool) -> None:
        """Start the ASGI cycle uvicorn would have started at the head, fed the body so far."""
        HttpToolsProtocol.on_headers_complete(self)
        cycle = self.cycle
        cycle.body = bytearray(b"".join(pending.parts))
        if complete:
            cycle.more_body = False
        elif len(cycle.body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()  # (as uvicorn's on_body: the app's reads resume it)
        if self.close_after_answer:  # (the server is shutting down)
            cycle.keep_alive = False
        cycle.message_event.set()

    def cancel_handover(self) -> None:
        if self.handover_timer is not None:
            self.handover_timer.cancel()
            self.handover_timer = None

    def shutdown(self) -> None:
        if self.pending is not None:  # answer the request whose body is arriving, then close
            self.close_after_answer = True
            return
        super().shutdown()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self.idle_since = time.monotonic()

    def cancel_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def head_timed_out(self) -> None:
        self.head_timer = None
        if self.awaiting_head and not self.transport.is_closing():
            log.info("request head not received within %g s: answering 408", self.header_timeout)
            message = f"The request headers did not arrive within {self.header_timeout:g} seconds."
            self.write_and_close(408, message)

    def send_400_response(self, msg: str) -> None:
        """uvicorn calls this inside its ``except httptools.HttpParserError``: say what was wrong."""
        error = sys.exc_info()[1]
        reason = str(error) if isinstance(error, httptools.HttpParserError) and str(error) else msg
        self.refuse(400, f"Malformed HTTP request: {reason.rstrip('.')}.")

    def refuse_head(self, buffered: bytes) -> None:
        """A head over max_header_bytes: 414 if the request line alone is, else 400."""
        line_end = buffered.find(b"\n")
        if line_end < 0 or line_end > self.max_request_line:
            self.refuse(414, f"The request line is longer than {self.max_request_line} bytes.")
        else:
            self.refuse(400, f"The request headers are larger than {self.max_header_bytes} bytes.")

    def refuse(self, status: int, message: str) -> None:
        log.info("refused a malformed request (%d): %s", status, message)
        self.cancel_head_timer()
        self.write_and_close(status, message)

    def write_and_close(self, status: int, message: str) -> None:
        elapsed = (time.perf_counter() - self.head_started) * 1000.0 if self.head_started else 0.0
        self.transport.write(raw_response(status, message, self.server_state.default_headers, elapsed))
        self.transport.close()


def protocol_class(
    max_connections: int,
    header_timeout: float,
    max_header_bytes: int,
    max_request_line: int,
    direct: DirectPredictions | None = None,
) -> type[LimitedProtocol]:
    """A protocol class carrying one server's limits (uvicorn takes a class, not an instance),
    and the app's prediction routes for the direct path (None: the app answers everything)."""
    attributes = {
        "max_connections": max_connections,
        "header_timeout": header_timeout,
        "max_header_bytes": max_header_bytes,
        "max_request_line": max_request_line,
        "direct": direct,
    }
    return type("DataRobotProtocol", (LimitedProtocol,), attributes)
