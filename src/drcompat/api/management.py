"""What every management route shares: the manageDeployments check, DataRobot's pagination,
the public base URL, and JSON bodies read with a limit and refused with a clear 400."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request

from drcompat.auth import authenticate, authorize_deployments, token_from_header
from drcompat.config import Settings
from drcompat.deployments import DeploymentRegistry
from drcompat.errors import BadRequest, PayloadTooLarge

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_JSON_BYTES = 1024 * 1024


def manager(registry: DeploymentRegistry, request: Request) -> str:
    """The calling token's name: 401 without valid credentials, 403 without manageDeployments."""
    snapshot = registry.snapshot()
    name = authenticate(snapshot, token_from_header(request.headers.get("authorization")))
    authorize_deployments(snapshot, name)
    return name


def public_base(settings: Settings, request: Request) -> str:
    """The URL clients reach this service at (behind API Gateway, the stage is part of it)."""
    return str(settings.prediction_server_url or request.base_url).rstrip("/")


def paginate(settings: Settings, request: Request, items: list[Any]) -> dict[str, Any]:
    """DataRobot's list shape: ``count``, ``next``, ``previous``, ``data``, ``totalCount``."""
    offset = _int_param(request, "offset", 0, 0, None)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT) or DEFAULT_LIMIT
    page = items[offset : offset + limit]

    def link(at: int) -> str:
        query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")]
        query += [("offset", str(at)), ("limit", str(limit))]
        return f"{public_base(settings, request)}{request.url.path}?{urlencode(query)}"

    return {
        "count": len(page),
        "next": link(offset + limit) if offset + limit < len(items) else None,
        "previous": link(max(0, offset - limit)) if offset > 0 else None,
        "data": page,
        "totalCount": len(items),
    }


def _int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer.") from exc
    if value < low or (high is not None and value > high):
        raise BadRequest(
            f"{name} must be between {low} and {high}." if high is not None else f"{name} must be >= {low}."
        )
    return value


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (an empty body is an empty object)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise PayloadTooLarge(f"The JSON body is larger than {MAX_JSON_BYTES} bytes.")
    if not body.strip():
        return {}
    try:
        payload = orjson.loads(bytes(body))
    except orjson.JSONDecodeError as exc:
        raise BadRequest("The body is not valid JSON.") from exc
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object.")
    return payload
