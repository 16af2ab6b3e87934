"""Large plain CSV bodies for models with text features: per-feature arrays without pandas.

``tensors.csv_columns`` splits small bodies cell by cell in Python; above a few dozen rows that
costs more than pandas' reader, and pandas then costs more than scoring (a DataFrame, then each
column coerced again). Here the separators of a block of rows are located once with numpy, so
every cell is a byte range: in a copy of the block the cells of other columns are blanked (CR is
JSON whitespace) and the row ends become commas, so simdjson reads the numeric features' cells as
one flat JSON array of numbers (correctly rounded, as pandas reads them: see
``tensors._read_json_numbers``); each text feature's cells are gathered into a fixed-width grid
and split into strings, pandas' missing-value markers read as ``""``. Blocks of about 64 KiB keep
every buffer small: large ones are fresh memory, faulted in page by page, on every request.

Only the plain case is taken, as in ``tensors``: UTF-8, no quotes, no byte order mark, no NUL
or CR alone, no blank line, at least two columns of unique non-empty names, every row with the
header's field count, numeric cells JSON numbers (``1``, ``-2.5``, ``1e3``; not empty, ``NA``,
``.5`` or ``+1``) and finite. Anything else answers ``None`` and the general path decides,
errors included, so what this returns is exactly what the general path would compute.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Sequence

import numpy as np
import simdjson

from drcompat.codecs.cells import CellLimits
from drcompat.codecs.tensors import NA_TEXT, NUMERIC_BYTES

COMMA, NEWLINE, MINUS, BLANK = ord(","), ord("\n"), ord("-"), ord("\r")  # CR: JSON whitespace
NUMERIC_OR_BLANK = NUMERIC_BYTES + b"\r"
CHUNK_BYTES = 256 * 1024  # rows are read in blocks of about this size: small buffers are reused, not faulted in
MAX_DROPPED_CELL = MAX_TEXT_CELL = 256  # longer cells outside the numeric features: the general path
_parsers = threading.local()  # a simdjson parser reuses its buffers; one per scoring thread


def csv_feature_columns(
    data: bytes, features: Sequence[tuple[str, bool]], limits: CellLimits | None
) -> dict[str, np.ndarray] | None:
    """Per-feature arrays (``(name, numeric)`` pairs) of a plain CSV body, or None."""
    if b'"' in data or b"\x00" in data or data.startswith(codecs.BOM_UTF8):
        return None
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:
            return None  # a lone CR is a line end to pandas
    if not data.endswith(b"\n"):
        data += b"\n"
    if data.startswith(b"\n") or not _utf8(data):
        return None  # a blank line first: pandas' rules decide
    end = data.find(b"\n")
    header = data[:end].decode("utf-8").split(",")
    width = len(header)
    if width < 2 or "" in header or len(set(header)) != width:
        return None
    position = {name: j for j, name in enumerate(header)}
    if any(name not in position for name, _ in features):
        return None
    numeric = sorted(position[name] for name, is_numeric in features if is_numeric)
    texts = [position[name] for name, is_numeric in features if not is_numeric]
    if not numeric:
        return None  # (models with text features only: the general path)
    # Brackets would nest JSON arrays, spaces pandas reads its own way: only then is every byte checked.
    checked = any(c in data for c in (b"[", b"]", b" ", b"\t"))
    blocks: list[np.ndarray] = []
    strings: list[list[list[str]]] = []
    view = memoryview(data)
    start = end + 1
    while start < len(data):
        stop = data.find(b"\n", min(start + CHUNK_BYTES, len(data) - 1)) + 1
        chunk = _chunk(view[start:stop], width, numeric, texts, checked)
        if chunk is None:
            return None
        blocks.append(chunk[0])
        strings.append(chunk[1])
        start = stop
    block = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    if not len(block) or (limits is not None and not _fits(limits, len(block), width)):
        return None  # no rows, or over the cell limit: the general path answers
    order = {j: k for k, j in enumerate(numeric)}
    columns: dict[str, np.ndarray] = {}
    for name, is_numeric in features:
        if is_numeric:
            columns[name] = np.ascontiguousarray(block[:, order[position[name]]])
        else:
            k = texts.index(position[name])
            values = [value for part in strings for value in part[k]] if len(strings) > 1 else strings[0][k]
            if not NA_TEXT.isdisjoint(values):
                values = ["" if v in NA_TEXT else v for v in values]
            columns[name] = np.array(values, dtype=object)
    return columns


def _chunk(
    raw: memoryview, width: int, numeric: list[int], texts: list[int], checked: bool
) -> tuple[np.ndarray, list[list[str]]] | None:
    """Whole rows (each ending in a newline): the numeric block and each text column's strings."""
    body = np.frombuffer(raw, dtype=np.uint8)
    separators = body == COMMA
    separators |= body == NEWLINE
    found = np.flatnonzero(separators)
    if len(found) % width:
        return None
    ends = found.reshape(-1, width)
    if not bool((body[ends[:, -1]] == NEWLINE).all()) or bool((body[ends[:, :-1]] == NEWLINE).any()):
        return None  # a short row next to a long one, or a blank line (pandas skips it)
    strings = []
    for j in texts:
        values = _texts(body, ends, j)
        if values is None:
            return None
        strings.append(values)
    block = _numbers(raw, ends, numeric, width, checked)
    if block is None:
        return None
    return block, strings


def _utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _fits(limits: CellLimits, rows: int, columns: int) -> bool:
    return columns <= limits.max_columns and rows * columns <= limits.max_cells


def _starts(ends: np.ndarray, j: int) -> np.ndarray:
    """Where column ``j``'s cells start."""
    if j:
        return ends[:, j - 1] + 1
    starts = np.empty(len(ends), dtype=ends.dtype)
    starts[0] = 0
    starts[1:] = ends[:-1, -1] + 1
    return starts


def _blank(buffer: np.ndarray, first: np.ndarray, last: np.ndarray) -> bool:
    """Overwrite ``[first, last)`` of each row with JSON whitespace; False if a range is too long."""
    longest = int((last - first).max())
    if longest > MAX_DROPPED_CELL:
        return False
    if longest:
        at = first[:, None] + np.arange(longest)
        buffer[at[at < last[:, None]]] = BLANK
    return True


def _numbers(raw: memoryview, ends: np.ndarray, kept: list[int], width: int, checked: bool) -> np.ndarray | None:
    """The ``kept`` columns' cells as a float64 block (rows x kept), or None: the other cells are
    blanked in a copy, with one separator each, so the rows are one flat JSON array of numbers."""
    text = bytearray(len(raw) + 1)
    text[0] = ord("[")
    text[1:] = raw
    buffer = np.frombuffer(text, dtype=np.uint8)[1:]  # the rows, indexed as ``raw``
    first_kept = kept[0]
    for j in range(width):
        if j in kept:
            continue
        if j < first_kept:  # the cell and the separator after it
            ok = _blank(buffer, _starts(ends, j), ends[:, j] + 1)
        else:  # the separator before it and the cell
            ok = _blank(buffer, ends[:, j - 1], ends[:, j])
        if not ok:
            return None
    if checked and len(text.translate(None, NUMERIC_OR_BLANK)) > 1:  # (the "[")
        return None  # brackets, spaces: something pandas reads its own way
    buffer[ends[:, -1]] = COMMA  # rows joined into one array
    text[-1] = ord("]")
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = simdjson.Parser()
    try:
        document = parser.parse(text)
        try:
            if not isinstance(document, simdjson.Array):  # (always an array: the text is one)
                return None
            values = np.frombuffer(document.as_buffer(of_type="d"), dtype=np.float64)  # a copy
        finally:
            del document  # the parser is free again
    except (ValueError, TypeError, RuntimeError, AttributeError):
        return None  # not JSON numbers (empty cells, .5, +1, 1.): the general path decides
    rows = len(ends)
    if len(values) != rows * len(kept) or not np.isfinite(values).all():
        return None  # infinities (1e999): the general path refuses them
    if not values.all() and _negative_zero(bytes(raw), ends, kept, values):
        return None  # "-0": pandas reads -0.0 in a column of decimals but 0 in a column of integers
    return values.reshape(rows, len(kept))


def _negative_zero(raw: bytes, ends: np.ndarray, kept: list[int], values: np.ndarray) -> bool:
    """Whether a zero cell is spelled with a sign (JSON's integer -0 reads as +0)."""
    body = np.frombuffer(raw, dtype=np.uint8)
    starts = np.stack([_starts(ends, j) for j in kept], axis=1).ravel()
    return bool((body[starts[values == 0]] == MINUS).any())


def _texts(body: np.ndarray, ends: np.ndarray, j: int) -> list[str] | None:
    """Column ``j``'s cells as strings (as sent: missing-value markers are mapped by the caller)."""
    first, last = _starts(ends, j), ends[:, j]
    lengths = last - first
    longest = int(lengths.max())
    if longest > MAX_TEXT_CELL:
        return None  # (a grid of rows x longest bytes would be large)
    if not longest:
        return [""] * len(ends)
    at = first[:, None] + np.arange(longest)
    inside = np.arange(longest) < lengths[:, None]
    grid = body[np.where(inside, at, 0)]
    grid[~inside] = 0  # numpy's fixed-width bytes drop trailing NULs (the body has none)
    cells = grid.view(f"S{longest}").ravel().tolist()
    return b"\n".join(cells).decode("utf-8").split("\n")
