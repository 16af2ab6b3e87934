"""A DataFrame to CSV bytes, column-wise: the batch path's output encoder.

pandas' ``to_csv`` formats every float through numpy's string conversion, which took ~95 % of a
chunk's time (2.3 s of 2.4 s for 200,000 rows). Here each numeric column becomes its tokens in one
``orjson`` call (shortest round-trip digits, as the JSON answer writes them), other columns are
factorised so only distinct values are formatted and quoted, and rows are joined once. The values
read back identically; only the spelling of exponents may differ from pandas (``1e-5``).
"""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype


def _quote(text: str, delimiter: str, quotechar: str) -> str:
    if delimiter in text or quotechar in text or "\n" in text or "\r" in text:
        return quotechar + text.replace(quotechar, quotechar * 2) + quotechar
    return text


def column_tokens(column: pd.Series, delimiter: str, quotechar: str) -> np.ndarray:
    """The column's CSV fields as bytes (missing values empty)."""
    if is_bool_dtype(column.dtype) and not column.hasnans:
        return np.array([b"False", b"True"], dtype=object)[column.to_numpy(dtype=np.int8)]
    if is_numeric_dtype(column.dtype) and not is_bool_dtype(column.dtype):
        values = np.ascontiguousarray(column.to_numpy())
        if (values.dtype.kind in "iuf" and values.dtype.itemsize in (4, 8)) or values.dtype.kind in "iu":
            raw = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)
            tokens = np.array(raw[1:-1].split(b","), dtype=object) if len(values) else np.array([], dtype=object)
            if values.dtype.kind == "f":
                tokens[np.isnan(values)] = b""
            return tokens
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    table = [_quote(str(value), delimiter, quotechar).encode("utf-8") for value in uniques]
    return np.array([*table, b""], dtype=object)[codes]


def _numeric_dtype(column: pd.Series) -> np.dtype | None:
    """The dtype orjson can write a block of, or None (bools, extension types, object)."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf" and dtype.itemsize in (4, 8):
        return dtype
    return None


def _segments(frame: pd.DataFrame, delimiter: str, quotechar: str) -> list[np.ndarray]:
    """One token array per run of same-dtype numeric columns (a row's fields already joined,
    written by one 2-D orjson call), or per other column."""
    out: list[np.ndarray] = []
    sep = delimiter.encode("utf-8")
    j, width = 0, frame.shape[1]
    while j < width:
        dtype = _numeric_dtype(frame.iloc[:, j])
        k = j + 1
        while dtype is not None and k < width:
            following = _numeric_dtype(frame.iloc[:, k])
            if following is None or following != dtype:  # (numpy equates None with float64)
                break
            k += 1
        if dtype is None or k - j == 1:
            out.append(column_tokens(frame.iloc[:, j], delimiter, quotechar))
        else:
            block = np.ascontiguousarray(frame.iloc[:, j:k].to_numpy(dtype=dtype))
            raw = orjson.dumps(block, option=orjson.OPT_SERIALIZE_NUMPY)[2:-2]
            if dtype.kind == "f":
                raw = raw.replace(b"null", b"")
            rows = raw.replace(b"],[", b"\n")
            if sep != b",":
                rows = rows.replace(b",", sep)
            out.append(np.array(rows.split(b"\n"), dtype=object))
        j = k
    return out


def encode_frame(frame: pd.DataFrame, header: bool, delimiter: str = ",", quotechar: str = '"') -> bytes:
    """Rows as a grid of tokens and separators, joined in one call (no Python loop over rows)."""
    sep = delimiter.encode("utf-8")
    head = b""
    if header:
        names = [_quote(str(name), delimiter, quotechar).encode("utf-8") for name in frame.columns]
        head = sep.join(names) + b"\n"
    if not frame.shape[1] or not len(frame):
        return head
    segments = _segments(frame, delimiter, quotechar)
    grid = np.empty((len(frame), 2 * len(segments)), dtype=object)
    for j, tokens in enumerate(segments):
        grid[:, 2 * j] = tokens
    grid[:, 1:-1:2] = sep
    grid[:, -1] = b"\n"
    return head + b"".join(grid.ravel().tolist())
