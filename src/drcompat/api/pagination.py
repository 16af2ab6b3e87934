"""DataRobot's list shape, in one place: ``{count, next, previous, data, totalCount}`` with
``offset``/``limit`` query parameters. The official client follows ``next`` until it is null."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request

from drcompat.errors import BadRequest

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer.") from exc
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}.")
    return value


def paginate(request: Request, items: Sequence[Any], default_limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """One page of ``items`` (already in their list order) and links to its neighbours."""
    offset = _int_param(request, "offset", 0, 0, 2**31)
    limit = _int_param(request, "limit", default_limit, 0, MAX_LIMIT) or default_limit
    data = list(items[offset : offset + limit])
    after, before = offset + limit, max(offset - limit, 0)
    return {
        "count": len(data),
        "next": str(request.url.include_query_params(offset=after, limit=limit)) if after < len(items) else None,
        "previous": str(request.url.include_query_params(offset=before, limit=limit)) if offset > 0 else None,
        "data": data,
        "totalCount": len(items),
    }
