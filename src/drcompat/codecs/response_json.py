"""DataRobot's JSON response, built column-wise: no Python loop over rows.

Each row is a fixed template with holes. Numbers become JSON tokens in one ``orjson`` call per
column (its output for a 1-D array is ``[t0,t1,...]``, and numeric tokens never contain commas);
values from a small table (class labels, humility flags) are kept as codes into their table, so
they fuse with the constant text around them into one token per row; free-form objects
(passthrough values, extra outputs) come from pandas' C JSON writer, one line per row. The rows'
pieces are laid into one flat list by slice assignment and joined in blocks: each byte of the
answer is copied twice at most (a 10,000-row answer has ~70,000 pieces, not ~130,000).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import orjson

from drcompat.explain.service import QUALITATIVE
from drcompat.models.metadata import TargetType
from drcompat.result import PredictionResult

if TYPE_CHECKING:
    import pandas as pd

JOIN_ROWS = 16_384
MAX_TABLE = 64  # fused tables (the product of the fused pieces' tables) stay this small


@dataclass(frozen=True)
class Coded:
    """A per-row token drawn from a small table: ``table[codes[i]]`` for row ``i``."""

    codes: np.ndarray
    table: tuple[bytes, ...]

    def tokens(self) -> np.ndarray:
        return np.array(self.table, dtype=object)[self.codes]


Piece = bytes | np.ndarray | list[bytes] | Coded
Pieces = list[Piece]


def number_tokens(values: np.ndarray) -> np.ndarray:
    return np.array(number_list(values), dtype=object)


def number_list(values: np.ndarray) -> list[bytes]:
    raw = orjson.dumps(np.ascontiguousarray(values), option=orjson.OPT_SERIALIZE_NUMPY)
    return raw[1:-1].split(b",")


_counts: list[bytes] = []  # "0", "1", ...: the rowIds of answers so far (immutable tokens, shared)
MAX_CACHED_COUNT = 100_000


def count_tokens(rows: int) -> list[bytes]:
    """rowId tokens 0 .. rows - 1, kept between answers (up to MAX_CACHED_COUNT rows)."""
    global _counts
    if rows > MAX_CACHED_COUNT:
        return number_list(np.arange(rows))
    counts = _counts
    if len(counts) < rows:
        counts = _counts = number_list(np.arange(max(rows, 2 * len(counts))))[:MAX_CACHED_COUNT]
    return counts[:rows]


def object_tokens(frame: pd.DataFrame) -> np.ndarray:
    """One JSON object per row; JSON strings escape newlines, so splitting on them is safe."""
    text = frame.to_json(orient="records", lines=True, double_precision=15, date_format="iso")
    return np.array(text.encode("utf-8").rstrip(b"\n").split(b"\n"), dtype=object)


def label_tokens(labels: tuple[object, ...]) -> np.ndarray:
    return np.array([orjson.dumps(label) for label in labels], dtype=object)


def value_tokens(column: pd.Series) -> np.ndarray:
    """JSON tokens of a column's values in their original types (numbers stay numbers).

    Numeric columns go through one orjson call; other columns are factorised, so only their
    distinct values are encoded one by one, then gathered per row.
    """
    import pandas as pd  # imported on first use: plain answers need none (cold start)

    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        values = column.to_numpy()
        if values.dtype.kind not in "iuf":
            values = values.astype(np.float64)
        return number_tokens(values)
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    encoded = [orjson.dumps(_plain(value)) for value in uniques]  # distinct values only
    table = np.array([*encoded, b"null"], dtype=object)  # code -1 (missing) -> null
    return table[codes]


def _plain(value: object) -> object:
    """numpy scalars to the Python values orjson encodes."""
    return value.item() if isinstance(value, np.generic) else value


def _explanation_pieces(result: PredictionResult) -> Pieces:
    explanations = result.explanations
    assert explanations is not None
    explained = explanations.explained

    def masked(piece: bytes | np.ndarray) -> bytes | np.ndarray:
        if bool(explained.all()):
            return piece
        return np.where(explained, piece, b"")

    opener = np.where(explained, b',"predictionExplanations":[', b',"predictionExplanations":[]')
    pieces: Pieces = [opener if not bool(explained.all()) else b',"predictionExplanations":[']
    k = explanations.order.shape[1]
    if k == 0 or not bool(explained.any()):
        return [b',"predictionExplanations":[]']
    import pandas as pd

    labels = pd.Series(explanations.labels, dtype=object)
    label_json = value_tokens(labels)
    names = np.array([orjson.dumps(name) for name in explanations.feature_names], dtype=object)
    values = np.stack([value_tokens(explanations.values[name]) for name in explanations.feature_names], axis=1)
    qualitative = np.array([orjson.dumps(q) for q in QUALITATIVE], dtype=object)
    for j in range(k):  # per explanation slot (at most the feature count), not per row
        index = explanations.order[:, j]
        qual = qualitative[explanations.qualitative_codes[:, j]]
        pieces += [
            masked((b"," if j else b"") + b'{"label":'),
            masked(label_json),
            masked(b',"feature":'),
            masked(names[index]),
            masked(b',"featureValue":'),
            masked(values[np.arange(len(index)), index]),
            masked(b',"strength":'),
            masked(number_tokens(explanations.strengths[:, j])),
            masked(b',"qualitativeStrength":'),
            masked(qual),
            masked(b"}"),
        ]
    pieces.append(masked(b"]"))
    return pieces


def _prediction_pieces(result: PredictionResult) -> Pieces:
    """``predictionValues``, ``predictionThreshold`` (binary) and ``prediction`` of each row."""
    meta = result.metadata
    if meta.target_type is TargetType.REGRESSION:
        assert result.values is not None
        values = number_tokens(result.values)
        label = orjson.dumps(meta.target_name)
        prediction = _overridden(result, values)
        pieces: Pieces = [b'{"predictionValues":[{"label":' + label + b',"value":', values, b'}],"prediction":']
        pieces.append(prediction)
        if result.adjusted is not None:  # exposure: excludeAdjustedPredictions=false
            adjusted = number_tokens(result.adjusted)
            pieces += [b',"adjustedPrediction":', adjusted, b',"adjustedPredictionValues":[{"label":' + label]
            pieces += [b',"value":', adjusted, b"}]"]
        return pieces
    assert result.probabilities is not None and result.label_index is not None
    encoded = label_tokens(meta.class_labels)
    pieces = []
    for position, k in enumerate(result.class_order()):
        opener = b'{"predictionValues":[' if position == 0 else b"},"
        pieces += [opener + b'{"label":' + encoded[k] + b',"value":', number_list(result.probabilities[:, k])]
    pieces.append(b"}]")
    if meta.target_type is TargetType.BINARY:
        pieces.append(b',"predictionThreshold":' + orjson.dumps(result.threshold))
    labels = Coded(np.asarray(result.label_index, dtype=np.intp), tuple(encoded.tolist()))
    pieces += [b',"prediction":', _overridden(result, labels)]
    return pieces


def _overridden(result: PredictionResult, tokens: np.ndarray | Coded) -> np.ndarray | Coded:
    """Prediction tokens with humility overrides applied (the first triggered rule wins)."""
    if result.humility is None:
        return tokens
    for mask, value in reversed(result.humility.overrides()):
        if isinstance(tokens, Coded):  # the override is one more entry of the table
            codes = np.where(mask, len(tokens.table), tokens.codes)
            tokens = Coded(codes, (*tokens.table, orjson.dumps(value)))
        else:
            tokens = np.where(mask, orjson.dumps(value), tokens)
    return tokens


def _humility_pieces(result: PredictionResult) -> Pieces:
    assert result.humility is not None
    pieces: Pieces = [b',"humility":[']
    for j, rule in enumerate(result.humility.rules):  # per rule, not per row
        head = (b"," if j else b"") + b'{"ruleId":' + orjson.dumps(rule.id) + b',"triggered":'
        pieces += [head, Coded(result.humility.triggered[:, j].astype(np.intp), (b"false", b"true"))]
        pieces.append(b',"ruleName":' + orjson.dumps(rule.name) + b"}")
    pieces.append(b"]")
    return pieces


def iso_tokens(stamps: np.ndarray, template: str) -> np.ndarray:
    """Datetimes as quoted ISO 8601 strings (vectorised through pandas' formatter)."""
    import pandas as pd  # imported on first use: plain answers need none (cold start)

    text = pd.DatetimeIndex(stamps).strftime(template).to_numpy(dtype=object)
    return np.char.add(np.char.add('"', text.astype(str)), '"').astype(bytes).astype(object)


def _time_series_pieces(result: PredictionResult) -> Pieces:
    import pandas as pd  # imported on first use: plain answers need none (cold start)

    forecast = result.time_series
    assert forecast is not None
    series = value_tokens(pd.Series(forecast.series, dtype=object))
    if result.metadata.raw.get("timeSeries", {}).get("seriesIdColumn") is None:
        series = np.full(result.rows, b"null", dtype=object)
    pieces: Pieces = [
        b'{"seriesId":',
        series,
        b',"forecastPoint":',
        iso_tokens(forecast.forecast_points, "%Y-%m-%dT%H:%M:%SZ"),
        b',"timestamp":',
        iso_tokens(forecast.timestamps, "%Y-%m-%dT%H:%M:%S.%fZ"),
        b',"forecastDistance":',
        number_tokens(forecast.distances),
    ]
    if result.original_format_timestamp:  # the seed: shown only where it has been turned on
        pieces += [b',"originalFormatTimestamp":', value_tokens(pd.Series(forecast.original, dtype=object))]
    return [*pieces, b","]


def encode_json(result: PredictionResult) -> bytes:
    pieces = _prediction_pieces(result)
    if result.time_series is not None:
        first = pieces[0]
        assert isinstance(first, bytes) and first.startswith(b"{")
        pieces = [*_time_series_pieces(result), first[1:], *pieces[1:]]
    row_ids = count_tokens(result.rows) if result.time_series is None else number_list(result.row_ids())
    pieces += [b',"rowId":', row_ids]
    if result.humility is not None:
        pieces += _humility_pieces(result)
    if result.explanations is not None:
        pieces += _explanation_pieces(result)
    tokens = result.passthrough_tokens  # (the direct path keeps tokens only, no frame)
    if tokens is None and result.passthrough is not None:
        tokens = object_tokens(result.passthrough)
    if tokens is not None:
        pieces += [b',"passthroughValues":', tokens]
    if result.extra:
        import pandas as pd

        pieces += [b',"extraModelOutput":', object_tokens(pd.DataFrame(result.extra))]
    pieces.append(b"},")
    return _join_rows(_fuse([p for p in pieces if not (isinstance(p, bytes) and not p)]), result.rows)


def _join_rows(pieces: Pieces, rows: int) -> bytes:
    """``{"data":[row,row,...]}`` from the rows' pieces (each row's last token ends in ",").

    One flat list per block of rows: the constants are laid by repeating the row's template,
    the per-row tokens by one slice assignment each. Blocks keep each join (which holds the GIL)
    short while a large answer is encoded on a worker thread; a single block is joined with the
    envelope in one copy. (Blocks are large: each large buffer allocated per answer is fresh memory
    from the kernel, faulted in page by page; at 10,000 rows two blocks more than doubled the time.)
    """
    width = len(pieces)
    template = [piece if isinstance(piece, bytes) else b"" for piece in pieces]
    columns = [(j, _token_list(piece)) for j, piece in enumerate(pieces) if not isinstance(piece, bytes)]
    out = io.BytesIO()  # grown in place; getvalue() hands over its buffer without a copy
    out.write(b'{"data":[')
    for start in range(0, rows, JOIN_ROWS):
        stop = min(start + JOIN_ROWS, rows)
        parts = template * (stop - start)
        for j, tokens in columns:
            parts[j::width] = tokens[start:stop]
        if stop == rows:
            parts[-1] = parts[-1][:-1]  # the last row's ","
        if start == 0 and stop == rows:
            parts.insert(0, b'{"data":[')
            parts.append(b"]}")
            return b"".join(parts)
        out.write(b"".join(parts))  # (each block is freed at once: the next one reuses its memory)
    out.write(b"]}")
    return out.getvalue()


def _token_list(piece: np.ndarray | list[bytes] | Coded) -> list[bytes]:
    if isinstance(piece, list):
        return piece
    tokens = piece.tokens() if isinstance(piece, Coded) else piece
    return tokens.tolist()


def _fuse(pieces: Pieces) -> Pieces:
    """Fuse neighbouring constants, and constants and small tables into one table, so each row
    joins as few objects as possible (a fused table is the product of its parts' tables)."""
    fused: Pieces = []
    for piece in pieces:
        previous = fused[-1] if fused else None
        if isinstance(piece, bytes) and isinstance(previous, bytes):
            fused[-1] = previous + piece
        elif isinstance(piece, bytes) and isinstance(previous, Coded):
            fused[-1] = Coded(previous.codes, tuple(t + piece for t in previous.table))
        elif isinstance(piece, Coded) and isinstance(previous, bytes):
            fused[-1] = Coded(piece.codes, tuple(previous + t for t in piece.table))
        elif (
            isinstance(piece, Coded)
            and isinstance(previous, Coded)
            and len(previous.table) * len(piece.table) <= MAX_TABLE
        ):
            size = len(piece.table)
            codes = previous.codes * size + piece.codes
            fused[-1] = Coded(codes, tuple(a + b for a in previous.table for b in piece.table))
        else:
            fused.append(piece)
    return fused
