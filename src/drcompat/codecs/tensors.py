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
block (rows x features, in the model's feature order). Small bodies are parsed by Python's own
``float`` (correctly rounded, as pandas' reader); large CSV bodies still go through pandas' C
reader, which wins there, but into one float block instead of a column at a time.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from drcompat.codecs.cells import CellLimits

NUMERIC_BYTES = b"0123456789.eE+-,\n"
SMALL_CELLS = 8192  # up to here Python's float beats the fixed cost of pandas' reader
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
    if body.translate(None, NUMERIC_BYTES):
        return None
    lines = [line for line in body.split(b"\n") if line]
    rows = len(lines)
    commas = width - 1
    if not rows or not _fits(limits, rows, width) or any(line.count(b",") != commas for line in lines):
        return None
    position = {name: j for j, name in enumerate(header)}
    try:
        index = [position[name] for name in names]
    except KeyError:
        return None
    try:
        if rows * width <= SMALL_CELLS:
            cells = b",".join(lines).split(b",")
            block = np.array([float(cell) if cell else np.nan for cell in cells], dtype=np.float64)
            block = block.reshape(rows, width)
        else:
            block = _read_large(b"\n".join((data[:end], *lines)), width)
    except ValueError:
        return None  # "1e", "-", "1.2.3": not a number, the general path names it
    if index != list(range(width)):
        block = block[:, index]
    return block if not np.isinf(block).any() else None  # infinities: the general path refuses them


def _read_large(data: bytes, width: int) -> np.ndarray:
    import pandas as pd  # only large bodies need it

    try:
        frame = pd.read_csv(io.BytesIO(data), sep=",", dtype=np.float64, low_memory=False, na_filter=True)
    except (pd.errors.ParserError, TypeError) as exc:
        raise ValueError(str(exc)) from exc
    if frame.shape[1] != width:
        raise ValueError("field count")
    return frame.to_numpy(dtype=np.float64)


def json_block(rows: list[dict[str, Any]], names: Sequence[str], limits: CellLimits | None) -> np.ndarray | None:
    """The features of JSON rows whose feature values are all numbers or null, or None."""
    if not rows:
        return None
    keys = rows[0].keys()
    width = len(keys)
    for row in rows:
        if row.keys() != keys:
            width = len(set().union(*rows))
            break
    if not _fits(limits, len(rows), width):
        return None
    try:
        values = [row[name] for row in rows for name in names]
    except KeyError:
        return None  # a row without a feature: pandas fills it in, the general path decides
    for value in values:
        kind = type(value)
        if kind is not float and kind is not int and value is not None:
            return None  # text, booleans, objects: the general path coerces or refuses them
    block = np.array(values, dtype=np.float64).reshape(len(rows), len(names))
    return block if not np.isinf(block).any() else None


def charset_is_utf8(params: dict[str, str]) -> bool:
    return params.get("charset", "utf-8").strip().lower() in UTF8
