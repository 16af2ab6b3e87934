"""Score one chunk: ``header + bytes`` in, a CSV part out, with the prediction core.

The fast path is the predictions route's own: pandas' C reader, column-wise coercion, one
``session.run`` for the chunk, and the columns of an ``Accept: text/csv`` answer. Only when that
path refuses the chunk is it read again record by record, to find which rows are malformed:
those rows then fail alone (``includePredictionStatus`` or ``abortOnError: false``), with the
reason in ``prediction_status``, or the job fails naming the first of them.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_float_dtype, is_numeric_dtype

from drcompat.batch.csv_writer import encode_frame
from drcompat.codecs.csv_codec import check_charset
from drcompat.codecs.response_csv import csv_frame
from drcompat.deployments import Deployment
from drcompat.errors import ApiError, BadRequest, NotFound
from drcompat.explain.service import explain as explain_rows
from drcompat.features import feature_columns, text_columns
from drcompat.models import OnnxModel
from drcompat.params import ExplanationParams, PredictionParams
from drcompat.predict import PredictionService, Trace, passthrough_frame

STATUS_COLUMN = "prediction_status"
STATUS_OK = "OK"


@dataclass(frozen=True)
class ScoreOptions:
    """What a job asks of every chunk (DataRobot's job settings, in domain form)."""

    passthrough_columns: tuple[str, ...] = ()
    passthrough_all: bool = False
    max_explanations: int = 0
    threshold_low: float | None = None
    threshold_high: float | None = None
    include_prediction_status: bool = False
    abort_on_error: bool = True
    delimiter: str = ","
    quotechar: str = '"'
    encoding: str = "utf-8"

    @property
    def row_failures(self) -> bool:
        """A malformed row fails alone (else it fails the job)."""
        return self.include_prediction_status or not self.abort_on_error

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreOptions:
        data = dict(data)
        data["passthrough_columns"] = tuple(data.get("passthrough_columns", ()))
        return cls(**data)


class RowError(BadRequest):
    """A malformed row in a job that fails on the first one; ``row`` counts data rows from 0."""

    def __init__(self, row: int, reason: str) -> None:
        super().__init__(reason)
        self.row = row
        self.reason = reason


@dataclass
class ChunkResult:
    data: bytes  # the scored part; the header row only in the first part
    rows: int
    failed: int = 0
    errors: dict[int, str] = field(default_factory=dict)


class ChunkScorer:
    """Scores chunks for one deployment with one model (resolved once)."""

    def __init__(self, service: PredictionService, deployment_id: str, options: ScoreOptions) -> None:
        self.service = service
        self.options = options
        self.encoding = check_charset(options.encoding)
        deployment = service.registry.snapshot().deployments.get(deployment_id)
        if deployment is None:
            raise NotFound(f"Deployment {deployment_id} was not found.")
        self.deployment: Deployment = deployment
        self.model: OnnxModel = service.model(deployment, Trace())
        if self.model.time_series is not None:
            raise BadRequest("Batch predictions are not available for time series deployments here.")
        self.text_columns = text_columns(self.model.metadata)
        self.params = PredictionParams(options.passthrough_columns, options.passthrough_all)

    def _read(self, data: bytes) -> pd.DataFrame:
        o = self.options
        return pd.read_csv(
            io.BytesIO(data),
            sep=o.delimiter,
            quotechar=o.quotechar,
            encoding=self.encoding,
            encoding_errors="strict",
            dtype=dict.fromkeys(self.text_columns, str),
            skip_blank_lines=True,
            low_memory=False,
        )

    def score(self, header: bytes, body: bytes, first: bool = True) -> ChunkResult:
        data = header + body
        try:
            frame = self._read(data)
            columns = feature_columns(frame, self.model.metadata)
        except (BadRequest, UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
            return self._score_rows(data, first, exc)
        out = self._predict(frame, columns, passthrough_frame(frame, self.params))
        if self.options.include_prediction_status:
            out[STATUS_COLUMN] = STATUS_OK
        return ChunkResult(self._encode(out, first), rows=len(frame))

    def _predict(self, frame: pd.DataFrame, columns: dict[str, np.ndarray], passthrough: Any) -> pd.DataFrame:
        service, o = self.service, self.options
        result = service.score(self.model, self.deployment, frame, columns, PredictionParams())
        result.passthrough = passthrough
        service.apply_humility(self.deployment, self.model, columns, result)
        if o.max_explanations > 0:
            params = ExplanationParams(
                max_explanations=o.max_explanations, threshold_low=o.threshold_low, threshold_high=o.threshold_high
            )
            # a batch has no request deadline: only the memory bound (rows per session.run) applies
            result.explanations = explain_rows(
                self.model, frame, columns, result, params, sys.maxsize, service.settings.explain_max_batch
            )
        return csv_frame(result)

    def _encode(self, frame: pd.DataFrame, first: bool) -> bytes:
        data = encode_frame(frame, first, self.options.delimiter, self.options.quotechar)
        if self.encoding == "utf-8":
            return data
        return data.decode("utf-8").encode(self.encoding, errors="replace")

    def _score_rows(self, data: bytes, first: bool, cause: Exception) -> ChunkResult:
        """The slow path: find the malformed rows, score the others, keep every row's place."""
        o = self.options
        text = data.decode(self.encoding, errors="surrogateescape")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=o.delimiter, quotechar=o.quotechar)
        try:
            records = [r for r in reader if r]
        except csv.Error as exc:
            raise BadRequest(f"Could not parse the CSV input: {exc}") from exc
        if not records:
            raise BadRequest("The CSV input has no header row.") from cause
        header, rows = records[0], records[1:]
        errors: dict[int, str] = {}
        good: list[list[str]] = []
        for i, row in enumerate(rows):
            if any("\udc80" <= ch <= "\udcff" for field_ in row for ch in field_):
                errors[i] = f"The row is not valid {self.encoding} text."
            elif len(row) > len(header):
                errors[i] = f"The row has {len(row)} fields; the header has {len(header)}."
            else:
                good.append(row)
        good_rows = [i for i in range(len(rows)) if i not in errors]
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=o.delimiter, quotechar=o.quotechar, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(good)
        try:
            frame = self._read(buffer.getvalue().encode(self.encoding, errors="surrogateescape"))
        except (pd.errors.ParserError, ValueError, UnicodeError) as exc:
            raise BadRequest(f"Could not parse the CSV input: {str(exc).strip()[:200]}") from exc
        frame.index = pd.Index(good_rows)
        missing = [f.name for f in self.model.metadata.features if f.name not in frame.columns]
        if missing:
            raise BadRequest(f"Missing feature columns: {', '.join(missing)}.")
        for f in self.model.metadata.features:
            if f.type != "numeric":
                continue
            column = frame[f.name]
            if is_numeric_dtype(column.dtype) and not is_bool_dtype(column.dtype):
                continue
            coerced = pd.to_numeric(column, errors="coerce")
            present = column.notna() & column.astype("string").str.strip().ne("").fillna(False)
            for i in frame.index[(coerced.isna() & present).to_numpy()]:
                value = str(column.loc[i])[:40]
                errors.setdefault(int(i), f"Column {f.name!r} must be numeric, not {value!r}.")
        if not errors:
            if isinstance(cause, ApiError):
                raise cause
            raise BadRequest(f"Could not parse the CSV input: {str(cause).strip()[:200]}") from cause
        if not o.row_failures:
            first_bad = min(errors)
            raise RowError(first_bad, errors[first_bad])
        every = pd.RangeIndex(len(rows))
        passthrough = passthrough_frame(frame, self.params)
        scored = frame.drop(index=[i for i in errors if i in frame.index])
        parts = []
        if passthrough is not None:
            parts.append(passthrough.reindex(every))
        columns = feature_columns(scored, self.model.metadata)
        predicted = self._predict(scored, columns, None)  # zero rows still give the column names
        predicted.index = scored.index
        parts.append(
            pd.DataFrame(
                {  # floats keep their dtype (and digits); ints and labels must not become floats
                    name: col.reindex(every) if is_float_dtype(col.dtype) else col.astype(object).reindex(every)
                    for name, col in predicted.items()
                }
            )
        )
        out = pd.concat(parts, axis=1)
        if o.include_prediction_status:
            out[STATUS_COLUMN] = [errors.get(i, STATUS_OK) for i in range(len(rows))]
        return ChunkResult(self._encode(out, first), rows=len(rows), failed=len(errors), errors=errors)
