"""Passthrough columns exactly as the request sent them.

Scoring needs typed columns (``007`` read as a number is 7, ``41.051128`` as a double prints as
``41.051127999999999`` at 17 digits); passthrough values must come back as sent. So the codecs
keep the requested columns a second time, untouched: a CSV cell as its text, a JSON value as the
JSON value it was. Both answers read from here: JSON tokens per row, and text for CSV answers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from drcompat.errors import BadRequest

if TYPE_CHECKING:
    import pandas as pd

# A CSV cell written as a JSON number (``41.051128``, ``-3``, ``1e5``) is sent back as that number,
# token for token; anything else (``007``, ``+5``, ``NaN``, text) is a JSON string.
JSON_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


@dataclass
class AsSent:
    """The kept columns: a JSON token per row (for JSON answers) and text per row (for CSV)."""

    tokens: dict[str, np.ndarray]
    text: pd.DataFrame

    def json_objects(self) -> np.ndarray:
        """One JSON object per row, built column by column (no loop over rows)."""
        rows = len(self.text)
        objects = np.full(rows, b"{", dtype=object)
        for position, (name, tokens) in enumerate(self.tokens.items()):
            key = (b"," if position else b"") + orjson.dumps(name) + b":"
            objects = objects + key + tokens
        return objects + b"}"


def _csv_token(cell: str) -> bytes:
    raw = cell.encode("utf-8")
    if not raw:
        return b"null"
    return raw if JSON_NUMBER.fullmatch(raw) else orjson.dumps(cell)


# Small plain CSV bodies (the direct path's, see ``codecs.tensors``) keep their passthrough cells
# without pandas: split on commas, as pandas reads a body with no quotes.
PLAIN_KEPT_BYTES = 256 * 1024


def csv_objects(data: bytes, columns: Sequence[str]) -> np.ndarray | None:
    """``from_csv(...).json_objects()`` for a small plain CSV body (UTF-8, no quotes, no CR, every
    row as wide as the header, blank lines skipped), or None when the body is not that plain or a
    column is absent (``from_csv`` then decides, and names what is missing)."""
    if len(data) > PLAIN_KEPT_BYTES or b'"' in data or b"\r" in data or data.startswith(b"\xef\xbb\xbf"):
        return None
    try:
        lines = [line for line in data.decode("utf-8").split("\n") if line]
    except UnicodeDecodeError:
        return None
    if len(lines) < 2 or any(not line.strip() for line in lines):
        return None  # no rows, or a line of spaces (pandas' blank-line rules decide)
    header = lines[0].split(",")
    position = {name: j for j, name in enumerate(header)}
    wanted = list(dict.fromkeys(columns))
    if len(position) != len(header) or "" in position or any(name not in position for name in wanted):
        return None
    rows = [line.split(",") for line in lines[1:]]
    if any(len(row) != len(header) for row in rows):
        return None
    keys = [(b"," if k else b"{") + orjson.dumps(name) + b":" for k, name in enumerate(wanted)]
    index = [position[name] for name in wanted]
    tokens: dict[str, bytes] = {}  # each distinct cell is encoded once
    objects = []
    for row in rows:
        parts: list[bytes] = []
        for key, j in zip(keys, index, strict=True):
            cell = row[j]
            token = tokens.get(cell)
            if token is None:
                token = tokens[cell] = _csv_token(cell)
            parts += (key, token)
        objects.append(b"".join(parts) + b"}")
    return np.array(objects, dtype=object)


def from_csv(data: bytes, encoding: str, columns: Sequence[str]) -> AsSent:
    """The named columns' cells as text (a second read of only those columns)."""
    import pandas as pd

    text = pd.read_csv(
        io.BytesIO(data),
        sep=",",
        encoding=encoding,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        usecols=list(columns),
        quoting=csv.QUOTE_MINIMAL,
        skip_blank_lines=True,
        low_memory=False,
    )[list(columns)]
    tokens = {}
    for name in columns:
        codes, uniques = pd.factorize(text[name])  # each distinct cell is encoded once
        table = np.array([_csv_token(str(cell)) for cell in uniques], dtype=object)
        tokens[name] = table[codes] if len(table) else np.empty(0, dtype=object)
    return AsSent(tokens=tokens, text=text)


def from_json(rows: list[dict[str, Any]], columns: Sequence[str]) -> AsSent:
    """The named keys' values as they were parsed (orjson writes numbers back in shortest form)."""
    import pandas as pd

    tokens: dict[str, np.ndarray] = {}
    text: dict[str, list[str]] = {}
    for name in columns:
        values = [row.get(name) for row in rows]
        encoded = [orjson.dumps(value) for value in values]
        tokens[name] = np.array(encoded, dtype=object)
        text[name] = [
            value if isinstance(value, str) else "" if value is None else token.decode("utf-8")
            for value, token in zip(values, encoded, strict=True)
        ]
    return AsSent(tokens=tokens, text=pd.DataFrame(text, columns=list(columns), dtype=object))


HEADER_PROBE = 1024 * 1024
MANGLED = re.compile(r"^(.*)\.([0-9]+)$")


def header_names(data: bytes, encoding: str) -> list[str]:
    """The CSV header's column names as written (pandas renames duplicates to ``a.1``)."""
    text = data[:HEADER_PROBE].decode(encoding, "replace")
    try:
        return next(csv.reader(io.StringIO(text)), [])
    except csv.Error:
        return []


def check_unique_header(data: bytes, encoding: str, columns: Sequence[object]) -> None:
    """A header naming a column twice is a 400 (pandas would rename the second ``a.1`` silently)."""
    names = {str(c) for c in columns}
    if not any((m := MANGLED.match(str(c))) and m.group(1) in names for c in columns):
        return  # the common case: no column looks renamed, no need to read the header again
    seen: set[str] = set()
    duplicates = []
    for name in header_names(data, encoding):
        if name in seen:
            duplicates.append(name)
        seen.add(name)
    if duplicates:
        shown = ", ".join(repr(n) for n in dict.fromkeys(duplicates))
        raise BadRequest(f"The CSV header names a column more than once: {shown}. Column names must be unique.")
