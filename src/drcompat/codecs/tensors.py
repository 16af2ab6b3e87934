"""Plain numeric request bodies straight into the model's feature block, with no DataFrame.

Most prediction requests are a few rows of numbers: building a DataFrame and then one ``Series``
per feature costs far more than scoring them (about 0.1 ms per feature). This reader takes only
the plain case and answers ``None`` for anything else, so the general path in ``codecs.request``
and ``features`` keeps deciding every other case and every error message:

* CSV: UTF-8, no quotes, no byte order mark, one header line of unique non-empty names, and data
  rows made only of digits, ``.``, ``e``/``E``, signs and commas, each with exactly the header's
  field count (an empty cell is a missing value, as pandas reads it);
* JSON: the objects' feature values are numbers or ``null``, and every object has every feature.

What it returns is exactly what the general path would compute for the same body: a float64
block (rows x features, in the model's feature order). Cells spelled as JSON numbers (nearly every
client's output) are read by simdjson as one JSON array, about four times faster than the C readers
of numpy and pandas and as exactly rounded; anything else in a plain body (``.5``, ``+1``, ``1.``,
empty cells) is read by numpy's C reader when small (no fixed cost) and by pandas' when large.
"""

from __future__ import annotations

import codecs
import io
import re
import threading
from array import array
from collections.abc import Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import simdjson

from drcompat.codecs.cells import CellLimits

NUMERIC_BYTES = b"0123456789.eE+-,\n"
# What JSON allows between numbers that a plain CSV body must not have (pandas would read
# " 1" or "[1]" its own way; strings are quoted, so already out).
NOT_JSON_CELLS = (b" ", b"\t", b"[", b"]", b"{")
# numpy's reader has no fixed cost but a higher cost per cell than pandas' C reader, whose fixed
# cost grows with the column count: measured, numpy's wins below about 19,000 + 440 x columns cells.
LOADTXT_CELLS = 19_000
LOADTXT_CELLS_PER_COLUMN = 440
UTF8 = ("utf-8", "utf8", "ascii", "us-ascii")


def _fits(limits: CellLimits | None, rows: int, columns: int) -> bool:
    return limits is None or (columns <= limits.max_columns and rows * columns <= limits.max_cells)


def csv_block(data: bytes, names: Sequence[str], limits: CellLimits | None) -> np.ndarray | None:
    """The features of a plain numeric CSV body as a float64 block, or None for the general path."""
    if b'"' in data or data.startswith(codecs.BOM_UTF8):
        return None
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:
            return None  # a lone CR is a line end to pandas
    end = data.find(b"\n")
    if end <= 0:
        return None
    try:
        header = data[:end].decode("utf-8").split(",")
    except UnicodeDecodeError:
        return None
    width = len(header)
    if "" in header or len(set(header)) != width:
        return None  # pandas names an empty header and renames a duplicate: the general path decides
    body = data[end + 1 :]
    position = {name: j for j, name in enumerate(header)}
    try:
        index = [position[name] for name in names]
    except KeyError:
        return None
    # A body too short to pass the cell limit needs no line count first (any cell takes 2 bytes).
    short = limits is None or (width <= limits.max_columns and len(body) // 2 + 1 <= limits.max_cells)
    try:
        block = _read_json_numbers(body, width) if short and not any(b in body for b in NOT_JSON_CELLS) else None
        if block is None:
            if body.translate(None, NUMERIC_BYTES) or not body.strip(b"\n"):
                return None
            if not _fits(limits, body.count(b"\n") + 1, width):
                return None  # near the limit: the general path counts exactly
            if len(body) // 8 < LOADTXT_CELLS + LOADTXT_CELLS_PER_COLUMN * width:  # about 8 bytes a cell
                block = _read_small(body, width)
            else:
                block = _read_large(data[: end + 1] + body, width)
    except ValueError:
        return None  # "1e", "-", "1.2.3", a short or long row: the general path names it
    if not len(block):
        return None
    if index != list(range(width)):
        block = block[:, index]
    return block if not np.isinf(block).any() else None  # infinities: the general path refuses them


# as_buffer flattens nested arrays without checking that they are all as long: each row's field
# count is checked per row object for wide rows, and from the comma positions for narrow ones.
WIDE_ROW = 64
_parsers = threading.local()  # a simdjson parser reuses its buffers; one per scoring thread


def _read_json_numbers(body: bytes, width: int) -> np.ndarray | None:
    """The rows as JSON arrays of numbers, parsed by simdjson straight into doubles (correctly
    rounded, as strtod), or None when a cell is not a JSON number (``.5``, ``+1``, empty).
    Raises ValueError for a row of the wrong field count."""
    flat = body[:-1] if body.endswith(b"\n") else body
    text = b"[[" + flat.replace(b"\n", b"],[") + b"]]"
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = simdjson.Parser()
    try:
        document = parser.parse(text)
    except (ValueError, RuntimeError):
        return None
    try:
        if not isinstance(document, simdjson.Array):  # (always an array: the text is one)
            return None
        rows = len(document)
        if width >= WIDE_ROW and any(not isinstance(row, simdjson.Array) or len(row) != width for row in document):
            raise ValueError("field count")
        values = np.frombuffer(document.as_buffer(of_type="d"), dtype=np.float64)  # a copy: the parser is free again
    except (TypeError, RuntimeError):
        return None
    finally:
        del document
    if width < WIDE_ROW:  # narrow rows: cheaper to check every line's commas in one pass over the bytes
        raw = np.frombuffer(flat, dtype=np.uint8)
        commas, ends = np.flatnonzero(raw == 44), np.flatnonzero(raw == 10)
        if commas.size != rows * (width - 1) or values.size != rows * width:
            raise ValueError("field count")
        if width > 1 and rows > 1:
            grid = commas.reshape(rows, width - 1)
            if not ((grid[:-1, -1] < ends) & (ends < grid[1:, 0])).all():
                raise ValueError("field count")
    block = values.reshape(-1, width)
    # JSON's integer zero has no sign: a cell "-0" is made -0.0, as numpy's reader and pandas' float
    # reader give it (pandas reads it +0.0 in a column it infers as integers; only the sign differs).
    if not values.all():
        zeros = np.argwhere(block == 0)
        lines = flat.split(b"\n")
        for row, column in zeros.tolist():
            if lines[row].split(b",")[column].startswith(b"-"):
                block[row, column] = -0.0
    return block


def _read_small(body: bytes, width: int) -> np.ndarray:
    """numpy's C reader, with empty cells read as missing values (as pandas reads them)."""
    try:
        block = np.loadtxt(io.BytesIO(body), delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        if b",," not in body and b"\n," not in body and b",\n" not in body and b"," not in (body[:1], body[-1:]):
            raise
        # Empty cells are rare: only then spell them "nan" (twice for ",,,") and read again.
        body = (b"\n" + body + b"\n").replace(b",,", b",nan,").replace(b",,", b",nan,")
        body = body.replace(b"\n,", b"\nnan,").replace(b",\n", b",nan\n")
        block = np.loadtxt(io.BytesIO(body), delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    if block.shape[1] != width:
        raise ValueError("field count")
    return block


def _read_large(data: bytes, width: int) -> np.ndarray:
    import pandas as pd  # only large bodies need it

    try:
        frame = pd.read_csv(io.BytesIO(data), sep=",", dtype=np.float64, low_memory=False)
    except (pd.errors.ParserError, TypeError) as exc:
        raise ValueError(str(exc)) from exc
    if frame.shape[1] != width:
        raise ValueError("field count")
    return frame.to_numpy(dtype=np.float64)


def json_block(rows: list[dict[str, Any]], names: Sequence[str], limits: CellLimits | None) -> np.ndarray | None:
    """The features of JSON rows whose feature values are all numbers or null, or None."""
    if not rows or not _json_fits(rows, len(names), limits):
        return None
    values = _json_values(rows, names)
    if values is None:
        return None
    cells = values if len(names) == 1 else list(chain.from_iterable(values))
    flat = _json_floats(cells)
    if flat is None:
        if not NUMBER_TYPES.issuperset(map(type, cells)):
            return None  # text, booleans, objects: the general path coerces or refuses them
        flat = np.array(cells, dtype=np.float64)  # (null: NaN)
    block = flat.reshape(len(rows), len(names))
    return block if not np.isinf(block).any() else None


def _json_floats(cells: list[Any]) -> np.ndarray | None:
    """Cells that are all numbers, read in one C pass (about half the time of checking each
    cell's type, then converting); None: a null, text or object among them, or booleans (which
    ``array`` reads as 0 and 1, so only cells read as 0 or 1 are checked, unless there are many)."""
    try:
        flat = np.frombuffer(array("d", cells), dtype=np.float64)
    except (TypeError, OverflowError):
        return None
    suspects = np.flatnonzero((flat == 0.0) | (flat == 1.0))
    if len(suspects) * 4 > len(cells) or bool in set(map(type, map(cells.__getitem__, suspects.tolist()))):
        return None
    return flat


NUMBER_TYPES = frozenset({float, int, type(None)})
TEXT_TYPES = frozenset({str, type(None)})


def _json_fits(rows: list[dict[str, Any]], features: int, limits: CellLimits | None) -> bool:
    """Whether rows x distinct keys (the frame's columns) pass the cell limit. Rows of exactly
    ``features`` keys that hold every feature (checked after) have those keys only: no union."""
    if limits is None:
        return True
    lengths = set(map(len, rows))
    width = features if lengths == {features} else _json_width(rows)
    return _fits(limits, len(rows), width)


def _json_width(rows: list[dict[str, Any]]) -> int:
    """The number of distinct keys (the frame's columns)."""
    keys = rows[0].keys()
    for row in rows:
        if row.keys() != keys:
            return len(set().union(*rows))
    return len(keys)


def _json_values(rows: list[dict[str, Any]], names: Sequence[str]) -> list[Any] | None:
    """Each row's values of ``names`` (one name: the values; more: a tuple per row), looked up in
    C; None when a row lacks one (pandas fills it in: the general path decides)."""
    if not names:
        return None
    try:
        return list(map(itemgetter(*names), rows))
    except KeyError:
        return None


def charset_is_utf8(params: dict[str, str]) -> bool:
    return params.get("charset", "utf-8").strip().lower() in UTF8


# Models with text (categorical) features take one array per feature. Small plain CSV bodies are
# split here: a numeric cell must be a plain decimal number (or empty: missing), a categorical cell
# is its text, and pandas' missing-value markers (its default list) become "" as pandas reads them.
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
NA_TEXT = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)
MIXED_CELLS = 20_000  # above this pandas' reader is the better tool


def csv_columns(
    data: bytes, features: Sequence[tuple[str, bool]], limits: CellLimits | None
) -> dict[str, np.ndarray] | None:
    """Per-feature arrays (``(name, numeric)`` pairs) of a small plain CSV body, or None."""
    if b'"' in data or data.startswith(codecs.BOM_UTF8) or len(data) > MIXED_CELLS * 64:
        return None
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:
            return None
    width = data.count(b",", 0, max(data.find(b"\n"), 0)) + 1
    if (data.count(b"\n") - data.endswith(b"\n")) * width > MIXED_CELLS:
        return None  # large (or with many blank lines): codecs.columns_csv or the general path
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = [line for line in text.split("\n") if line]
    if len(lines) < 2 or any(not line.strip() for line in lines):
        return None  # no rows, or a line of spaces (pandas' blank-line rules decide)
    header = lines[0].split(",")
    width = len(header)
    rows = len(lines) - 1
    if "" in header or len(set(header)) != width or rows * width > MIXED_CELLS or not _fits(limits, rows, width):
        return None
    cells = [line.split(",") for line in lines[1:]]
    if any(len(row) != width for row in cells):
        return None
    position = {name: j for j, name in enumerate(header)}
    columns: dict[str, np.ndarray] = {}
    for name, numeric in features:
        j = position.get(name)
        if j is None:
            return None
        values = [row[j] for row in cells]
        if numeric:
            if not all(not v or (NUMBER.fullmatch(v) and len(v) < 19) for v in values):
                return None  # text, NA markers, 20-digit integers: the general path decides
            numbers = np.array([float(v) if v else np.nan for v in values], dtype=np.float64)
            if np.isinf(numbers).any():
                return None
            columns[name] = numbers
        else:
            columns[name] = np.array(["" if v in NA_TEXT else v for v in values], dtype=object)
    return columns


def json_columns(
    rows: list[dict[str, Any]], features: Sequence[tuple[str, bool]], limits: CellLimits | None
) -> dict[str, np.ndarray] | None:
    """Per-feature arrays of JSON rows: numeric features numbers or null, text features strings
    or null (null: ""); anything else (numbers as categories, booleans) takes the general path."""
    if not rows or not _json_fits(rows, len(features), limits):
        return None
    numeric = [name for name, is_numeric in features if is_numeric]
    block = json_block(rows, numeric, None) if numeric else None  # (the limit: checked above)
    if numeric and block is None:
        return None
    columns: dict[str, np.ndarray] = {}
    for name, is_numeric in features:
        if is_numeric:
            assert block is not None
            columns[name] = np.ascontiguousarray(block[:, numeric.index(name)])
            continue
        values = _json_values(rows, [name])
        if values is None:
            return None
        kinds = set(map(type, values))
        if not TEXT_TYPES.issuperset(kinds):
            return None
        if type(None) in kinds:
            values = ["" if v is None else v for v in values]
        columns[name] = np.array(values, dtype=object)
    return columns
