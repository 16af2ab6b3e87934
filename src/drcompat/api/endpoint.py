"""One prediction route over the service, with no web framework: what a request is answered.

The FastAPI route (``api.app``) and the Lambda adapter's direct path (``drcompat_lambda.direct``)
both end here, so the statuses, the ``{"message"}`` error bodies, the model headers, the access
record for the observer and monitoring's service health are decided in one place. Reading the
body (and, in the app, scheduling the work on a thread) stays with each transport.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import orjson

from drcompat.api.cors import CORS_HEADERS
from drcompat.errors import ApiError, PayloadTooLarge
from drcompat.observe import Observer, RequestRecord
from drcompat.predict import Answer, PredictionRequest, PredictionService, Trace

log = logging.getLogger("drcompat.api")
JSON_MEDIA = "application/json"
INTERNAL_ERROR = "Internal server error."

# The prediction routes as Starlette matches them (a path parameter is anything but "/"), for the
# transports that dispatch them without the framework's routing (``fullmatch`` the path).
PREDICTION_PATH = re.compile(
    r"(?:/predApi/v1\.0)?/deployments/(?P<deployment_id>[^/]+)/(?P<route>predictions|predictionExplanations)"
)

Serve = Callable[[PredictionRequest, Trace], tuple[Answer, str]]


@dataclass
class Reply:
    """A route's answer before a transport sends it (``content``: bytes, or pieces to stream)."""

    status: int
    content: Answer
    media_type: str | None = JSON_MEDIA
    headers: dict[str, str] = field(default_factory=dict)


def error_body(message: str) -> bytes:
    return orjson.dumps({"message": message})


def trace_headers(trace: Trace) -> dict[str, str]:
    headers = {}
    if trace.model_id is not None:
        headers["X-DataRobot-Model-Id"] = trace.model_id
    if trace.cache_hit is not None:
        headers["X-DataRobot-Model-Cache-Hit"] = "true" if trace.cache_hit else "false"
    return headers


CORS_TEXT = [(name.decode(), value.decode()) for name, value in CORS_HEADERS]


def answer_headers(reply: Reply, started: float) -> list[tuple[str, str]]:
    """The headers the app sends with ``reply``, lower-case and in its order: the reply's own,
    Starlette's length (none for a streamed answer) and type, then the middleware's CORS set,
    execution time and request id. What the transports that answer without the app (the Lambda
    direct path, the local server's protocol) write."""
    headers = [(name.lower(), value) for name, value in reply.headers.items()]
    if isinstance(reply.content, bytes) and not (reply.status < 200 or reply.status in (204, 304)):
        headers.append(("content-length", str(len(reply.content))))
    if reply.media_type is not None:
        media_type = reply.media_type
        if media_type.startswith("text/") and "charset=" not in media_type.lower():
            media_type += "; charset=utf-8"
        headers.append(("content-type", media_type))
    headers += CORS_TEXT
    headers.append(("x-datarobot-execution-time", str(round((time.perf_counter() - started) * 1000.0))))
    headers.append(("x-datarobot-request-id", uuid.uuid4().hex))
    return headers


def prediction_request(
    deployment_id: str, body: bytes, headers: Mapping[str, str], query: list[tuple[str, str]]
) -> PredictionRequest:
    """The core's request from a transport's lower-case header lookup (Starlette's headers, or
    the Lambda event's headers as a dict)."""
    return PredictionRequest(
        deployment_id=deployment_id,
        body=body,
        content_type=headers.get("content-type"),
        content_encoding=headers.get("content-encoding"),
        accept=headers.get("accept"),
        authorization=headers.get("authorization"),
        datarobot_key=headers.get("datarobot-key"),
        query=query,
    )


def check_body_size(size: int, limit: int) -> None:
    """413 for a body (or a declared Content-Length) past ``limit``."""
    if size > limit:
        raise PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")


class PredictionEndpoint:
    """``serve`` (the service's predict or explain) answered as ``route``, every outcome observed."""

    def __init__(self, route: str, serve: Serve, service: PredictionService, observer: Observer | None) -> None:
        self.route = route
        self.serve = serve
        self.service = service
        self.observer = observer

    def answer(self, request: PredictionRequest, trace: Trace, started: float) -> Reply:
        """Score on this thread and reply, errors included."""
        try:
            content, media_type = self.serve(request, trace)
        except Exception as exc:
            return self.failed(request.deployment_id, trace, started, exc)
        return self.succeeded(request.deployment_id, trace, started, content, media_type)

    def succeeded(self, deployment_id: str, trace: Trace, started: float, content: Answer, media_type: str) -> Reply:
        self.observe(deployment_id, trace, 200, started)
        return Reply(200, content, media_type, trace_headers(trace))

    def failed(self, deployment_id: str, trace: Trace, started: float, exc: Exception) -> Reply:
        """A domain error's status and message; anything else a 500 that never shows its text."""
        if isinstance(exc, ApiError):
            if exc.status >= 500:
                log.error("%s failed: %s", self.route, exc.message, exc_info=exc)
            return self.refused(deployment_id, trace, started, exc.status, exc.message)
        log.error("unexpected error in %s", self.route, exc_info=exc)
        return self.refused(deployment_id, trace, started, 500, INTERNAL_ERROR)

    def refused(self, deployment_id: str, trace: Trace, started: float, status: int, message: str) -> Reply:
        self.observe(deployment_id, trace, status, started)
        return Reply(status, error_body(message), JSON_MEDIA, trace_headers(trace))

    def observe(self, deployment_id: str, trace: Trace, status: int, started: float) -> None:
        """The access record (logs, metrics) and monitoring's service health; never breaks an answer."""
        sink = self.service.sink
        if self.observer is None and sink is None:
            return
        elapsed = (time.perf_counter() - started) * 1000.0
        record = RequestRecord(self.route, deployment_id, status, trace.rows, trace.model_id, trace.cache_hit, elapsed)
        try:
            if self.observer is not None:
                self.observer(record)
            if sink is not None:
                sink.finished(record, trace.consumer, trace.execution_ms)
        except Exception:  # metrics must never break an answer
            log.exception("observer failed")
