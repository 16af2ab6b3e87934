"""Turn a raw request body into a DataFrame: decompress, pick the codec by content type, parse.

This is the one place that knows which content types the Prediction API accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from python_multipart.multipart import parse_options_header

from drcompat.codecs.as_sent import AsSent, check_unique_header, from_csv, from_json
from drcompat.codecs.cells import CellLimits
from drcompat.codecs.compression import decompress
from drcompat.codecs.csv_codec import check_charset, decode_csv
from drcompat.codecs.json_codec import frame_of, json_rows
from drcompat.codecs.multipart import file_part
from drcompat.errors import BadRequest, UnsupportedMediaType

if TYPE_CHECKING:
    import pandas as pd

CSV_TYPES = {"text/csv", "text/plain", "application/csv", "text/x-csv"}
JSON_TYPES = {"application/json", "text/json"}
MULTIPART = "multipart/form-data"
SUPPORTED = "application/json, text/csv, text/plain or multipart/form-data"


def split_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    mime, params = parse_options_header(value or "")
    return mime.decode("latin-1").lower(), {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in params.items()}


@dataclass
class Decoded:
    frame: pd.DataFrame
    as_sent: AsSent | None = None  # the kept (passthrough) columns exactly as sent


ALL_COLUMNS = ("*",)  # keep every column as sent (passthroughColumnsSet=all)


def decode_body(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    max_decompressed: int,
    text_columns: list[str] | None = None,
    limits: CellLimits | None = None,
) -> pd.DataFrame:
    """The rows of the request as a DataFrame; every failure is a 4xx naming the problem."""
    return decode_request(body, content_type, content_encoding, max_decompressed, text_columns, limits).frame


def decode_request(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    max_decompressed: int,
    text_columns: list[str] | None = None,
    limits: CellLimits | None = None,
    keep: Sequence[str] = (),
) -> Decoded:
    """The rows as a DataFrame, and the ``keep`` columns as sent (``ALL_COLUMNS``: every one)."""
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
    if not data or data.isspace():
        raise BadRequest("The request body is empty: send at least one row to score.")
    charset = params.get("charset", "utf-8")
    as_sent = None
    if limits is not None and mime not in JSON_TYPES:
        limits.check_csv(data, charset)  # before pandas parses a huge body
    if mime in JSON_TYPES:
        rows = json_rows(data, charset)
        frame = frame_of(rows)
        if keep and not frame.empty:
            as_sent = from_json(rows, _kept(frame, keep))
    else:
        frame = decode_csv(data, charset, text_columns)
        check_unique_header(data, check_charset(charset), list(frame.columns))
        if keep and not frame.empty:
            as_sent = from_csv(data, check_charset(charset), _kept(frame, keep))
    if frame.empty:
        raise BadRequest("The request has no rows to score.")
    if limits is not None:
        limits.check_frame(frame)
    return Decoded(frame, as_sent)


def _kept(frame: pd.DataFrame, keep: Sequence[str]) -> list[str]:
    if tuple(keep) == ALL_COLUMNS:
        return [str(c) for c in frame.columns]
    wanted = list(dict.fromkeys(keep))
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise BadRequest(f"Passthrough columns not in the data: {', '.join(missing)}.")
    return wanted
