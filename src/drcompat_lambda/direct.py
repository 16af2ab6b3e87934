"""The prediction routes answered straight from the Lambda event, without the ASGI stack.

A prediction event is the one a container's first request usually is, and FastAPI, Starlette,
pydantic's models and Mangum cost ~150 ms to import and build before it could be answered. This
path reads the API Gateway (REST, HTTP API 1.0 and 2.0) or function-URL event as Mangum reads it,
answers through the same ``PredictionEndpoint`` the FastAPI route calls, and shapes the Lambda
response as Starlette's ``Response``, the ``DataRobotHeaders`` middleware and Mangum together
would (headers in their order, base64 rules, ``multiValueHeaders`` for payload 1.0).
It also answers CORS preflights (OPTIONS), as the middleware does, so a browser's first request
does not build the app either. Anything else, or anything it is unsure of, returns None: the
handler passes the event to the full app, built on first need, so every other answer is the app's.
tests/test_direct_lambda.py replays events both ways and compares the answers.
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from drcompat.api.cors import line_length
from drcompat.api.endpoint import (
    PREDICTION_PATH,
    PredictionEndpoint,
    Reply,
    answer_headers,
    check_body_size,
    prediction_request,
)
from drcompat.config import Settings
from drcompat.predict import Trace

# Mangum's defaults: bodies of these types go out as text, any other as base64.
TEXT_MIME_TYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/vnd.api+json",
    "application/vnd.oai.openapi",
)
Event = dict[str, Any]


class Unsure(Exception):
    """The event is not one this path answers exactly as the app would: the app answers it."""


class DirectRoutes:
    def __init__(self, settings: Settings, endpoints: dict[str, PredictionEndpoint]) -> None:
        self.settings = settings
        self.endpoints = endpoints

    def __call__(self, event: Event) -> dict[str, Any] | None:
        """The Lambda response to a prediction event, or None for the full app to answer."""
        started = time.perf_counter()
        try:
            shape, method, path, headers, query = read_event(event)
            if line_length(method, path.encode(), query) > self.settings.max_request_line_bytes:
                return None  # the app's 414
            if method == "OPTIONS":  # a CORS preflight, which the middleware answers on any path
                return lambda_response(shape, Reply(204, b"", None, {"content-length": "0"}), started)
            match = PREDICTION_PATH.fullmatch(path)
            endpoint = self.endpoints.get(match["route"]) if match and method == "POST" else None
            if endpoint is None:
                return None
            body = event_body(event)
        except (Unsure, KeyError, TypeError, ValueError, AttributeError, UnicodeError):
            return None
        deployment_id = match["deployment_id"] if match else ""
        trace = Trace()
        try:
            declared = headers.get("content-length", "")
            if declared.isdigit():
                check_body_size(int(declared), self.settings.max_body_bytes)
            check_body_size(len(body), self.settings.max_body_bytes)
            query_items = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            request = prediction_request(deployment_id, body, headers, query_items)
        except Exception as exc:
            reply = endpoint.failed(deployment_id, trace, started, exc)
        else:
            reply = endpoint.answer(request, trace, started)
        return lambda_response(shape, reply, started)


def read_event(event: Event) -> tuple[str, str, str, dict[str, str], bytes]:
    """The event's shape ("1.0" or "2.0"), method, path, headers and query string, as Mangum
    builds the ASGI scope from it (header values as Starlette decodes them: latin-1)."""
    context = event["requestContext"]
    if "elb" in context:
        raise Unsure("an ALB event")
    if "version" in event:
        shape = "2.0" if event["version"] == "2.0" else "1.0"
    elif "resource" in event:
        shape = "1.0"
    else:
        raise Unsure("not an API Gateway event")
    if shape == "2.0":
        http = context["http"]
        headers = {k.lower(): v for k, v in event.get("headers", {}).items()}
        if event.get("cookies"):
            headers["cookie"] = "; ".join(event.get("cookies", []))
        method, path = http["method"], http["path"]
        query = event.get("rawQueryString", "").encode()
    else:
        headers = {k.lower(): v for k, v in (event.get("headers", {}) or {}).items()}
        if event.get("multiValueHeaders"):
            multi = event.get("multiValueHeaders", {})
            headers.update({k.lower(): ", ".join(v) if isinstance(v, list) else "" for k, v in multi.items()})
        method, path = event["httpMethod"], event["path"]
        params = event.get("multiValueQueryStringParameters", {}) or event.get("queryStringParameters", {})
        query = urlencode(params, doseq=True).encode() if params else b""
    if not isinstance(method, str) or not isinstance(path, str):
        raise Unsure("no method or path")
    server_port(headers)
    return shape, method, unquote(path) if path else "/", {k: latin1(v) for k, v in headers.items()}, query


def latin1(value: str) -> str:
    """A header value as the app sees it: Mangum encodes it as UTF-8, Starlette decodes latin-1."""
    return value if value.isascii() else value.encode().decode("latin-1")


def server_port(headers: dict[str, str]) -> int:
    """Mangum's reading of Host / X-Forwarded-Port (a value it cannot read fails there too)."""
    host = headers.get("host", "mangum")
    if ":" in host:
        _, port = host.split(":")
        return int(port)
    return int(headers.get("x-forwarded-port", 80))


def event_body(event: Event) -> bytes:
    body = event.get("body", b"") or b""
    if event.get("isBase64Encoded", False):
        return base64.b64decode(body)
    return body if isinstance(body, bytes) else body.encode()


def lambda_response(shape: str, reply: Reply, started: float) -> dict[str, Any]:
    """``reply`` as the Lambda response Mangum makes of the app's answer."""
    content = reply.content if isinstance(reply.content, bytes) else b"".join(reply.content)
    headers = answer_headers(reply, started)
    if shape == "2.0":
        joined: dict[str, str] = {}
        for key, value in headers:
            joined[key] = f"{joined[key]},{value}" if key in joined else value
        joined.setdefault("content-type", "application/json")
        text, encoded = body_text(content, joined)
        return {"statusCode": reply.status, "body": text, "headers": joined, "isBase64Encoded": encoded}
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in headers:
        if key in multi:
            multi[key].append(value)
        elif key in single:
            multi[key] = [single.pop(key), value]
        else:
            single[key] = value
    text, encoded = body_text(content, single)
    return {
        "statusCode": reply.status,
        "headers": single,
        "multiValueHeaders": multi,
        "body": text,
        "isBase64Encoded": encoded,
    }


def body_text(body: bytes, headers: dict[str, str]) -> tuple[str, bool]:
    """Mangum's rule: text types as text (base64 if not UTF-8), anything else base64."""
    if body == b"":
        return "", False
    content_type = headers.get("content-type", "")
    if any(kind in content_type for kind in TEXT_MIME_TYPES):
        try:
            return body.decode(), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode(), True
