"""Request bodies read with a cap: counted while they arrive, so an oversized body costs at most
the cap (413 as soon as it passes), whatever its Content-Length says."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from drcompat.api.endpoint import check_body_size
from drcompat.errors import BadRequest

MAX_JSON_BYTES = 1024 * 1024


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes ``limit`` (before it is all read)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit():
        check_body_size(int(declared), limit)
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        check_body_size(len(chunks), limit)
    return bytes(chunks)


async def json_object(request: Request, limit: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """A JSON object body (empty: ``{}``), read with ``read_body``; 400 for anything else."""
    body = await read_body(request, limit)
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("The JSON body must be an object.")
    return data
