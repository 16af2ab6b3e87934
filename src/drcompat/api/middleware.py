"""A pure-ASGI middleware for what every answer needs, errors included.

It sets X-DataRobot-Request-Id and X-DataRobot-Execution-Time, DataRobot's CORS headers, answers
preflight requests, and refuses request lines over the limit with 414 before any routing.
(Pure ASGI rather than BaseHTTPMiddleware: no extra task or body copy per request.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

EXPOSED = ",".join(
    [
        "Content-Type",
        "Content-Length",
        "X-DataRobot-Execution-Time",
        "X-DataRobot-Model-Cache-Hit",
        "X-DataRobot-Model-Id",
        "X-DataRobot-Request-Id",
    ]
)
CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"OPTIONS, POST"),
    (b"access-control-allow-credentials", b"true"),
    (b"access-control-expose-headers", EXPOSED.encode()),
    (b"access-control-allow-headers", b"Content-Type,Authorization,datarobot-key,Content-Encoding,Accept"),
]


def request_line_length(scope: Scope) -> int:
    """Bytes of ``METHOD /path?query HTTP/1.1`` as the client sent it."""
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    return len(scope["method"]) + 1 + len(path) + (1 + len(query) if query else 0) + len(" HTTP/1.1")


class DataRobotHeaders:
    def __init__(self, app: ASGIApp, max_request_line: int = 8192) -> None:
        self.app = app
        self.max_request_line = max_request_line

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000.0
                headers = list(message.get("headers", []))
                headers += CORS_HEADERS
                headers.append((b"x-datarobot-execution-time", str(round(elapsed)).encode()))  # whole ms, as the seed
                headers.append((b"x-datarobot-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        if request_line_length(scope) > self.max_request_line:
            body = orjson.dumps({"message": f"The request line is longer than {self.max_request_line} bytes."})
            await _answer(send_with_headers, 414, body)
            return
        if scope["method"] == "OPTIONS":
            await _answer(send_with_headers, 204, b"")
            return
        await self.app(scope, receive, send_with_headers)


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
