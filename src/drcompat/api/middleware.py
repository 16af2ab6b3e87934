"""A pure-ASGI middleware for what every answer needs, errors included.

It sets X-DataRobot-Request-Id and X-DataRobot-Execution-Time, DataRobot's CORS headers, answers
preflight requests, and refuses request lines over the limit with 414 before any routing.
It also times the body as the app reads it (408 for a body that stops or trickles past its
limits) and ends quietly when the client went away mid-body (no error traceback; the local
server's protocol logs the disconnect at INFO).
(Pure ASGI rather than BaseHTTPMiddleware: no extra task or body copy per request.)
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from drcompat.api.cors import CORS_HEADERS, line_length

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


log = logging.getLogger("drcompat.api")


class BodyTimeout(HTTPException):
    """The body stopped arriving: rendered as 408 ``{"message"}`` and the connection closed."""

    def __init__(self, message: str) -> None:
        super().__init__(408, message)


def timed_receive(receive: Receive, total: float, idle: float) -> tuple[Receive, Callable[[], bool]]:
    """``receive`` with limits while the body is arriving: all of it within ``total`` seconds of
    the first read, no pause longer than ``idle``; later calls (disconnect watch) are untimed."""
    state = {"deadline": 0.0, "done": False, "bytes": 0, "expired": False}

    async def receive_in_time() -> Message:
        if state["done"]:
            return await receive()
        now = time.monotonic()
        if not state["deadline"]:
            state["deadline"] = now + total
        wait = max(0.0, min(idle, state["deadline"] - now))
        try:
            async with asyncio.timeout(wait):
                message = await receive()
        except TimeoutError:
            state["expired"] = True
            raise BodyTimeout(
                f"The request body did not arrive in time ({state['bytes']} bytes received): send all of "
                f"it within {total:g} seconds, pausing no longer than {idle:g} seconds."
            ) from None
        if message["type"] == "http.request":
            state["bytes"] += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            state["done"] = True
        return message

    return receive_in_time, lambda: bool(state["expired"])


def request_line_length(scope: Scope) -> int:
    """Bytes of ``METHOD /path?query HTTP/1.1`` as the client sent it."""
    path = scope.get("raw_path") or scope["path"].encode()
    return line_length(scope["method"], path, scope.get("query_string") or b"")


class DataRobotHeaders:
    """``direct``: finds the ASGI handler of a request that needs none of the framework's routing
    (the prediction routes, whose handler answers every outcome itself), or None."""

    def __init__(
        self,
        app: ASGIApp,
        max_request_line: int = 8192,
        body_timeout: float = 60.0,
        body_idle_timeout: float = 10.0,
        direct: Callable[[Scope], ASGIApp | None] | None = None,
    ) -> None:
        self.app = app
        self.max_request_line = max_request_line
        self.body_timeout = body_timeout
        self.body_idle_timeout = body_idle_timeout
        self.direct = direct

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        receive, expired = timed_receive(receive, self.body_timeout, self.body_idle_timeout)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000.0
                headers = list(message.get("headers", []))
                headers += CORS_HEADERS
                headers.append((b"x-datarobot-execution-time", str(round(elapsed)).encode()))  # whole ms, as the seed
                headers.append((b"x-datarobot-request-id", request_id.encode()))
                if expired():  # the rest of the body may still be on its way: do not read it
                    headers.append((b"connection", b"close"))
                message["headers"] = headers
            await send(message)

        if request_line_length(scope) > self.max_request_line:
            body = orjson.dumps({"message": f"The request line is longer than {self.max_request_line} bytes."})
            await _answer(send_with_headers, 414, body)
            return
        if scope["method"] == "OPTIONS":
            await _answer(send_with_headers, 204, b"")
            return
        try:
            app = (self.direct(scope) if self.direct is not None else None) or self.app
            await app(scope, receive, send_with_headers)
        except ClientDisconnect:  # the client went away mid-body: nothing to answer, nothing broke
            log.debug("client disconnected before sending the whole body: %s %s", scope["method"], scope["path"])


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
