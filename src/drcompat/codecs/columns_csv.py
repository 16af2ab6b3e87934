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
from itertools import chain

import numpy as np
import simdjson

from drcompat.codecs.cells import CellLimits
from drcompat.codecs.tensors import NA_TEXT, NUMERIC_BYTES

COMMA, NEWLINE, MINUS, BLANK = ord(","), ord("\n"), ord("-"), ord("\r")  # CR: JSON whitespace
NUMERIC_OR_BLANK = NUMERIC_BYTES + b"\r"
SEPARATORS_TO_NEWLINES = bytes.maketrans(b",", b"\n")
CHUNK_BYTES = 256 * 1024  # rows are read in blocks of about this size: small buffers are reused, not faulted in
MAX_DROPPED_CELL = 256  # longer cells outside the numeric features: the general path
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
            values = list(chain.from_iterable(part[k] for part in strings)) if len(strings) > 1 else strings[0][k]
            if not NA_TEXT.isdisjoint(values):
                values = ["" if v in NA_TEXT else v for v in values]
            columns[name] = np.array(values, dtype=object)
    return columns


def _chunk(
    raw: memoryview, width: int, numeric: list[int], texts: list[int], checked: bool
) -> tuple[np.ndarray, list[list[str]]] | None:
    """Whole rows (each ending in a newline): the numeric block and each text column's strings.

    One copy of the rows, ``[`` first, is made into a JSON array of the numeric cells: every
    other column's cells are blanked with one separator each (CR is JSON whitespace) while the
    text features' cells are gathered, and each row's newline becomes a comma.
    """
    body = np.frombuffer(raw, dtype=np.uint8)
    separators = body == COMMA
    separators |= body == NEWLINE
    found = np.flatnonzero(separators)
    if len(found) % width:
        return None
    ends = found.reshape(-1, width)
    if not bool((body[ends[:, -1]] == NEWLINE).all()) or bool((body[ends[:, :-1]] == NEWLINE).any()):
        return None  # a short row next to a long one, or a blank line (pandas skips it)
    text = np.empty(len(body) + 1, dtype=np.uint8)
    text[0] = ord("[")
    buffer = text[1:]  # the rows, indexed as ``body``
    buffer[:] = body
    strings: dict[int, list[str]] = {}
    for j in range(width):
        if j in numeric:
            continue
        first, last = _starts(ends, j), ends[:, j]
        longest = int((last - first).max())
        if longest > MAX_DROPPED_CELL:
            return None  # (rows x longest indices would be large)
        at = first[:, None] + np.arange(longest + 1)
        cells = at[at <= last[:, None]]  # each cell's bytes and the separator after it
        if j in texts:
            picked = body[cells].tobytes().translate(SEPARATORS_TO_NEWLINES)
            strings[j] = picked.decode("utf-8").split("\n")[:-1]
        # the cell and the separator after it before the first numeric cell, else the one before it
        buffer[cells if j < numeric[0] else cells - 1] = BLANK
    if checked and len(text.tobytes().translate(None, NUMERIC_OR_BLANK)) > 1:  # (the "[")
        return None  # brackets, spaces: something pandas reads its own way
    buffer[ends[:, -1]] = COMMA  # rows joined into one array
    text[-1] = ord("]")
    block = _numbers(text, raw, ends, numeric)
    if block is None:
        return None
    return block, [strings[j] for j in texts]


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


def _numbers(text: np.ndarray, raw: memoryview, ends: np.ndarray, kept: list[int]) -> np.ndarray | None:
    """The rows' numeric cells, ``text`` as one JSON array, as a float64 block (rows x kept)."""
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = simdjson.Parser()
    try:
        document = parser.parse(text.data)
        try:
            if not isinstance(document, simdjson.Array):  # (always an array: the text is one)
                return None
            values = np.frombuffer(document.as_buffer(of_type="d"), dtype=np.float64)  # a copy
        finally:
            del document  # the parser is free again
    except (ValueError, TypeError, RuntimeError, AttributeError):
        return None  # not JSON numbers (empty cells, NA, .5, +1, 1.): the general path decides
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
