"""Prediction POSTs answered by the local server's HTTP protocol itself, without the ASGI app.

Over HTTP, much of a small request's time is framework: uvicorn's task and ASGI messages per
request, the headers middleware, Starlette's request and response objects (about 0.1 ms of the
server's 0.3-1 ms). The protocol (``api.protocol``) offers each request head here; a plain
prediction POST is taken, its body collected as it arrives, scored by the same
``PredictionEndpoint`` as the app's route, and its answer written with the same headers in the
same order as the app would write them.

Everything else stays with the app, so every limit and answer stays the app's: a body still
arriving after ``HANDOVER_SECONDS`` (the app's body timeouts take over), no ``Content-Length``
or one over the inline or body limit, a compressed body, a body too wide to score on the event
loop, ``Accept: text/csv`` (a big CSV answer is streamed), ``Expect: 100-continue``, HTTP/1.0,
``Connection: close``, an upgrade, proxy headers, an encoded path or a request line over the limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl

from drcompat.api.cors import line_length
from drcompat.api.endpoint import PREDICTION_PATH, PredictionEndpoint, answer_headers, prediction_request
from drcompat.api.slots import fits_inline
from drcompat.predict import Trace, wants_csv

HANDOVER_SECONDS = 0.05  # a body not complete by then is handed to the app (and its timeouts)
# Headers that make the app answer instead (names arrive lower-cased).
# (Connection: close and upgrades are the protocol's to see: its parser reads them.)
APP_HEADERS = frozenset({"transfer-encoding", "expect", "forwarded", "x-forwarded-for", "x-forwarded-proto"})
APP_HEADERS |= {"x-forwarded-host", "x-forwarded-port"}


@dataclass(frozen=True)
class DirectRoute:
    endpoint: PredictionEndpoint
    inline: int  # bodies up to this many bytes are scored on the event loop (the app's rule)


@dataclass
class Pending:
    """A taken request whose body is arriving."""

    route: DirectRoute
    deployment_id: str
    raw_path: bytes
    query: bytes
    headers: dict[str, str]
    started: float
    parts: list[bytes] = field(default_factory=list)

    def target(self) -> str:
        """The request target as uvicorn's access log prints it."""
        path = self.raw_path.decode("ascii")
        return f"{path}?{self.query.decode('ascii')}" if self.query else path


class DirectPredictions:
    """The prediction routes the protocol may answer itself (built by ``create_app``)."""

    def __init__(self, routes: dict[str, DirectRoute], max_body_bytes: int, max_request_line: int) -> None:
        self.routes = routes
        self.max_body_bytes = max_body_bytes
        self.max_request_line = max_request_line
        self.answered = 0  # requests answered here (the tests read it)

    def take(self, method: bytes, raw_path: bytes, query: bytes, headers: list[tuple[bytes, bytes]]) -> Pending | None:
        """The request, if it is one to answer here; None: the app answers it."""
        if method != b"POST" or b"%" in raw_path or not raw_path.isascii():
            return None
        match = PREDICTION_PATH.fullmatch(raw_path.decode("ascii"))
        route = self.routes.get(match["route"]) if match is not None else None
        if match is None or route is None or line_length("POST", raw_path, query) > self.max_request_line:
            return None
        found: dict[str, str] = {}
        for name, value in headers:  # the first of a repeated header, as Starlette's lookup
            found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        declared = found.get("content-length", "")
        if not declared.isdigit() or int(declared) > min(route.inline, self.max_body_bytes):
            return None
        if not APP_HEADERS.isdisjoint(found) or wants_csv(found.get("accept")):
            return None
        if found.get("content-encoding", "identity").strip().lower() != "identity":
            return None  # scored on a worker thread by the app
        return Pending(route, match["deployment_id"], raw_path, query, found, time.perf_counter())

    def answer(self, pending: Pending, default_headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes, bytes] | None:
        """Status, head and body of the answer; None: the body is too wide to score on the loop
        (the app scores it on a worker thread)."""
        body = b"".join(pending.parts)
        query = parse_qsl(pending.query.decode("latin-1"), keep_blank_values=True)
        request = prediction_request(pending.deployment_id, body, pending.headers, query)
        if not fits_inline(body, request.content_type, pending.route.inline):
            return None
        reply = pending.route.endpoint.answer(request, Trace(), pending.started)
        if not isinstance(reply.content, bytes):  # (CSV answers, the only streamed ones, are the app's)
            reply = replace(reply, content=b"".join(reply.content))
        assert isinstance(reply.content, bytes)
        # uvicorn's defaults first, then what the app writes
        head = b"".join(name + b": " + value + b"\r\n" for name, value in default_headers)
        own = answer_headers(reply, pending.started)
        head += "".join(f"{name}: {value}\r\n" for name, value in own).encode("latin-1")
        self.answered += 1
        return reply.status, head + b"\r\n", reply.content
