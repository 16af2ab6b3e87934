"""Turn a raw request body into a DataFrame: decompress, pick the codec by content type, parse.

This is the one place that knows which content types the Prediction API accepts.
"""

from __future__ import annotations

import pandas as pd
from python_multipart.multipart import parse_options_header

from drcompat.codecs.cells import CellLimits
from drcompat.codecs.compression import decompress
from drcompat.codecs.csv_codec import decode_csv
from drcompat.codecs.json_codec import decode_json
from drcompat.codecs.multipart import file_part
from drcompat.errors import BadRequest, UnsupportedMediaType

CSV_TYPES = {"text/csv", "text/plain", "application/csv", "text/x-csv"}
JSON_TYPES = {"application/json", "text/json"}
MULTIPART = "multipart/form-data"
SUPPORTED = "application/json, text/csv, text/plain or multipart/form-data"


def split_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    mime, params = parse_options_header(value or "")
    return mime.decode("latin-1").lower(), {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in params.items()}


def decode_body(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    max_decompressed: int,
    text_columns: list[str] | None = None,
    limits: CellLimits | None = None,
) -> pd.DataFrame:
    """The rows of the request as a DataFrame; every failure is a 4xx naming the problem."""
    mime, params = split_content_type(content_type)
    if mime not in CSV_TYPES and mime not in JSON_TYPES and mime != MULTIPART:
        shown = mime or "none"
        raise UnsupportedMediaType(f"Unsupported Content-Type {shown!r}: send {SUPPORTED}.")
    data = decompress(body, content_encoding, max_decompressed)
    if mime == MULTIPART:
        data, part_type = file_part(data, params.get("boundary", ""))
        mime, part_params = split_content_type(part_type or "text/csv")
        params = {**params, **part_params}
        if mime not in JSON_TYPES:
            mime = "text/csv"
    if not data.strip():
        raise BadRequest("The request body is empty: send at least one row to score.")
    charset = params.get("charset", "utf-8")
    if limits is not None and mime not in JSON_TYPES:
        limits.check_csv(data, charset)
    frame = decode_json(data, charset) if mime in JSON_TYPES else decode_csv(data, charset, text_columns)
    if frame.empty:
        raise BadRequest("The request has no rows to score.")
    if limits is not None:
        limits.check_frame(frame)
    return frame
