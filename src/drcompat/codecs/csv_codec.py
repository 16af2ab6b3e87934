"""CSV bodies (``text/csv``, ``text/plain``) into a DataFrame with pandas' C parser."""

from __future__ import annotations

import codecs
import csv
import io
from typing import TYPE_CHECKING

from drcompat.errors import BadRequest

if TYPE_CHECKING:
    import pandas as pd


def check_charset(charset: str) -> str:
    try:
        info = codecs.lookup(charset)
    except LookupError as exc:
        raise BadRequest(f"Unknown charset {charset!r}.") from exc
    if not getattr(info, "_is_text_encoding", True):
        raise BadRequest(f"Charset {charset!r} is not a text encoding.")
    return info.name


def decode_csv(data: bytes, charset: str = "utf-8", text_columns: list[str] | None = None) -> pd.DataFrame:
    """Comma-separated values with a header row; ``text_columns`` are kept as strings."""
    import pandas as pd  # imported on first use: small bodies are read without it (cold start)

    encoding = check_charset(charset)
    try:
        return pd.read_csv(
            io.BytesIO(data),
            sep=",",
            encoding=encoding,
            encoding_errors="strict",
            dtype=dict.fromkeys(text_columns or [], str),
            quoting=csv.QUOTE_MINIMAL,
            skip_blank_lines=True,
            low_memory=False,
        )
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The CSV body is not valid {encoding} text (byte {exc.start}).") from exc
    except pd.errors.EmptyDataError as exc:
        raise BadRequest("The CSV body has no header row.") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "malformed CSV"
        raise BadRequest(f"Could not parse the CSV body: {first_line}") from exc
