"""JSON bodies: an array of objects, keys are feature names (DataRobot's JSON input)."""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd

from drcompat.errors import BadRequest


def decode_json(data: bytes, charset: str = "utf-8") -> pd.DataFrame:
    if charset.replace("-", "").replace("_", "").lower() not in ("utf8", "ascii", "usascii"):
        try:
            data = data.decode(charset).encode("utf-8")
        except (LookupError, UnicodeError) as exc:
            raise BadRequest(f"The JSON body is not valid {charset} text.") from exc
    try:
        rows: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Malformed JSON: {exc}") from exc
    if not isinstance(rows, list) or (rows and not isinstance(rows[0], dict)):
        raise BadRequest("The JSON body must be an array of objects, one per row.")
    if not rows:
        return pd.DataFrame()
    try:
        return pd.DataFrame(rows)
    except (TypeError, ValueError) as exc:
        raise BadRequest("The JSON body must be an array of objects, one per row.") from exc
