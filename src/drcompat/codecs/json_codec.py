"""JSON bodies: an array of objects, keys are feature names (DataRobot's JSON input).

One object on its own is one row: the seed's Python example posts ``json.dumps({...})`` per
request with ``Content-Type: text/json``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from drcompat.errors import BadRequest

if TYPE_CHECKING:
    import pandas as pd

ONLY_OBJECTS = frozenset({dict})
SHAPE = "The JSON body must be an object (one row) or an array of objects, one per row."


def json_rows(data: bytes, charset: str = "utf-8") -> list[dict[str, Any]]:
    if charset.replace("-", "").replace("_", "").lower() not in ("utf8", "ascii", "usascii"):
        try:
            data = data.decode(charset).encode("utf-8")
        except (LookupError, UnicodeError) as exc:
            raise BadRequest(f"The JSON body is not valid {charset} text.") from exc
    try:
        rows: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Malformed JSON: {exc}") from exc
    if isinstance(rows, dict):
        return [rows]
    if not isinstance(rows, list) or not ONLY_OBJECTS.issuperset(map(type, rows)):  # (orjson makes plain dicts)
        raise BadRequest(SHAPE)
    return rows


def frame_of(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd  # the general path only: small bodies are read without a frame

    if not rows:
        return pd.DataFrame()
    try:
        return pd.DataFrame(rows)
    except (TypeError, ValueError) as exc:
        raise BadRequest(SHAPE) from exc


def decode_json(data: bytes, charset: str = "utf-8") -> pd.DataFrame:
    return frame_of(json_rows(data, charset))
