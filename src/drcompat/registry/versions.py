"""Model versions in storage: ids, the ``model.yaml`` document, and what a version is built from."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any


def new_object_id() -> str:
    """A 24-hex id shaped like a MongoDB ObjectId (seconds, then random), as DataRobot's ids are."""
    return f"{int(time.time()):08x}{secrets.token_hex(8)}"


def model_document(model_id: str, onnx_bytes: bytes, fields: dict[str, Any]) -> dict[str, Any]:
    """model.yaml's content: the id and the graph's SHA-256 first, then the described fields."""
    return {"modelId": model_id, "sha256": hashlib.sha256(onnx_bytes).hexdigest(), **fields}
