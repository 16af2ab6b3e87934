"""The prediction path, top to bottom: authorise -> load -> parse -> score -> shape -> encode.

Framework-free: the FastAPI route and any other adapter hand it a ``PredictionRequest`` and get
bytes back. What the response headers need (model id, cache hit) is recorded on the request's
``Trace`` as soon as it is known, so error answers carry it too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from drcompat.auth import authenticate, authorize, token_from_header
from drcompat.capture import CaptureSink, ScoredBatch
from drcompat.codecs.as_sent import AsSent, csv_objects
from drcompat.codecs.cells import CellLimits
from drcompat.codecs.columns_csv import csv_feature_columns
from drcompat.codecs.json_codec import json_rows
from drcompat.codecs.multipart import file_part
from drcompat.codecs.request import (
    ALL_COLUMNS,
    CSV_TYPES,
    JSON_TYPES,
    MULTIPART,
    decode_body,
    decode_request,
    split_content_type,
)
from drcompat.codecs.response_json import encode_json
from drcompat.codecs.tensors import charset_is_utf8, csv_block, csv_columns, json_block, json_columns
from drcompat.config import Settings
from drcompat.deployments import Deployment, DeploymentRegistry
from drcompat.errors import BadRequest, ModelError, NotFound
from drcompat.explain.service import explain as explain_rows
from drcompat.explain.service import explained_output
from drcompat.finite import check_finite_frame, check_finite_inputs, check_finite_outputs
from drcompat.humility import evaluate as evaluate_humility
from drcompat.models import ModelCache, ModelStore, OnnxModel, Scores, TargetType
from drcompat.models.metadata import MetadataError
from drcompat.params import ExplanationParams, PredictionParams, parse_explanation_params, parse_prediction_params
from drcompat.result import PredictionResult
from drcompat.storage import Storage, storage_from_settings

if TYPE_CHECKING:
    import pandas as pd

# pandas (with features, timeseries and the CSV answer) is imported where the general path first
# needs it: a small plain body is parsed, scored and answered without it (see ``direct_block``),
# so a Lambda container's first such request does not pay its import (~120 ms).

CSV_MEDIA = "text/csv"
FEW_ROWS_BYTES = 2048  # CSV bodies below this (about 30 rows of 10 features) are split in Python
JSON_MEDIA = "application/json"
log = logging.getLogger(__name__)

# An answer: bytes, or the pieces of a big CSV answer when the door streams (stream_csv_rows).
Answer = bytes | Iterator[bytes]


@dataclass
class Trace:
    """Facts about a request that its response headers report, filled in as they become known."""

    model_id: str | None = None
    cache_hit: bool | None = None
    rows: int = 0
    consumer: str | None = None  # the token name (monitoring counts consumers)
    execution_ms: float | None = None  # time spent scoring


@dataclass
class PredictionRequest:
    deployment_id: str
    body: bytes
    content_type: str | None = None
    content_encoding: str | None = None
    accept: str | None = None
    authorization: str | None = None
    datarobot_key: str | None = None
    query: list[tuple[str, str]] = field(default_factory=list)


def wants_csv(accept: str | None) -> bool:
    """``Accept: text/csv`` selects CSV; JSON stays the default for anything else."""
    if not accept:
        return False
    for item in accept.split(","):
        media = item.split(";")[0].strip().lower()
        if media in (CSV_MEDIA, JSON_MEDIA):
            return media == CSV_MEDIA
    return False


class PredictionService:
    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        self.settings = settings
        self.storage = storage or storage_from_settings(settings)
        self.registry = DeploymentRegistry(self.storage, settings.registry_ttl_seconds)
        self.store = ModelStore(self.storage, settings.onnx_intra_op_threads, settings.onnx_allow_spinning)
        self.cache = ModelCache(settings.model_cache_max_models, settings.model_cache_max_bytes)
        self.limits = CellLimits(settings.max_cells, settings.max_columns)
        self.sink: CaptureSink | None = None  # monitoring's capture, when enabled

    def deployment(self, request: PredictionRequest, trace: Trace | None = None) -> Deployment:
        """Who may call what: 401 without valid credentials, 404 unknown id, 403 out of scope."""
        token = token_from_header(request.authorization)
        snapshot = self.registry.snapshot()
        token_name = authenticate(snapshot, token)
        if trace is not None:
            trace.consumer = token_name
        deployment = snapshot.deployments.get(request.deployment_id)
        if deployment is None:
            raise NotFound(f"Deployment {request.deployment_id} was not found.")
        authorize(deployment, token_name, request.datarobot_key)
        return deployment

    def model(self, deployment: Deployment, trace: Trace) -> OnnxModel:
        trace.model_id = deployment.model_id
        model, hit = self.cache.get(deployment.model_id, lambda: self.store.load(deployment.model_id))
        trace.cache_hit = hit
        return model

    def warm(self, time_series: bool = True) -> list[str]:
        """Load every deployed model now (cold start / SnapStart), so first requests hit;
        ``time_series=False`` leaves time-series models to their first request (they need pandas,
        whose import costs more than a small request's whole answer)."""
        loaded = []
        for deployment in self.registry.snapshot().deployments.values():
            if not time_series and "timeSeries" in self.store.metadata(deployment.model_id).raw:
                continue
            self.model(deployment, Trace())
            loaded.append(deployment.model_id)
        return loaded

    def predict(self, request: PredictionRequest, trace: Trace | None = None) -> tuple[Answer, str]:
        """The predictions route: the encoded answer and its media type."""
        return self._serve(request, trace or Trace(), explain=False)

    def explain(self, request: PredictionRequest, trace: Trace | None = None) -> tuple[Answer, str]:
        """The predictionExplanations route: predictions plus each row's explanations."""
        return self._serve(request, trace or Trace(), explain=True)

    def _serve(self, request: PredictionRequest, trace: Trace, explain: bool) -> tuple[Answer, str]:
        deployment = self.deployment(request, trace)
        model = self.model(deployment, trace)
        if model.time_series is not None:
            return self._serve_time_series(request, trace, deployment, model, explain)
        params = parse_explanation_params(request.query) if explain else parse_prediction_params(request.query)
        if not explain:
            block = self.direct_block(request, deployment, model, params)
            kept = self.direct_kept(request, params) if block is not None and params.passthrough_columns else None
            if block is not None and (kept is not None or not params.passthrough_columns):
                return self._serve_block(request, trace, deployment, model, params, block, kept)
        from drcompat.features import feature_columns, text_columns

        decoded = decode_request(
            request.body,
            request.content_type,
            request.content_encoding,
            self.settings.max_decompressed_bytes,
            text_columns(model.metadata),
            self.limits,
            keep=ALL_COLUMNS if params.passthrough_all else params.passthrough_columns,
        )
        frame = decoded.frame
        trace.rows = len(frame)
        association = association_column(deployment, frame)
        columns = feature_columns(frame, model.metadata)
        check_finite_inputs(columns)
        started = time.perf_counter()
        result = self.score(model, deployment, frame, columns, params, decoded.as_sent)
        trace.execution_ms = (time.perf_counter() - started) * 1000.0
        self.apply_humility(deployment, model, columns, result)
        if self.sink is not None:
            self.capture(self.sink, deployment, model, columns, result, association)
        if isinstance(params, ExplanationParams):
            settings = self.settings
            result.explanations = explain_rows(
                model, frame, columns, result, params, settings.explain_max_evaluations, settings.explain_max_batch
            )
        if wants_csv(request.accept):
            return self.csv_answer(result), CSV_MEDIA
        return encode_json(result), JSON_MEDIA

    def direct_block(
        self, request: PredictionRequest, deployment: Deployment, model: OnnxModel, params: PredictionParams
    ) -> np.ndarray | dict[str, np.ndarray] | None:
        """The features of a plain body parsed straight into one float block (all-numeric models)
        or per-feature arrays (small bodies for models with text features), when nothing about
        the request needs its other columns (see ``codecs.tensors``); None: the general path."""
        meta = model.metadata
        if (
            params.passthrough_all
            or (params.passthrough_columns and wants_csv(request.accept))  # a CSV answer needs the frame
            or (meta.exposure is not None and not params.exclude_adjusted)
            or wants_association(deployment)
            or request.content_encoding not in (None, "", "identity")
        ):
            return None
        mime, options = split_content_type(request.content_type)
        data = request.body
        if mime == MULTIPART:  # a form's file part (``curl -F file=@rows.csv``), as decode_request finds it
            data, part_type = file_part(data, options.get("boundary", ""))
            mime, part_options = split_content_type(part_type or "text/csv")
            options = {**options, **part_options}
            mime = mime if mime in JSON_TYPES else "text/csv"
        if (
            not charset_is_utf8(options) or not data or data.isspace()
        ):  # (isspace stops at the first other byte; strip copies)
            return None
        names = model.feature_names
        if not model.all_numeric:
            features = model.feature_kinds
            if mime in CSV_TYPES:  # (a few rows: split in Python; more: located by numpy; either may decline)
                readers = (
                    (csv_columns, csv_feature_columns)
                    if len(data) < FEW_ROWS_BYTES
                    else (csv_feature_columns, csv_columns)
                )
                for reader in readers:
                    columns = reader(data, features, self.limits)
                    if columns is not None:
                        return columns
                return None
            if mime in JSON_TYPES:
                return json_columns(json_rows(data), features, self.limits)
            return None
        if mime in CSV_TYPES:
            return csv_block(data, names, self.limits)
        if mime in JSON_TYPES:
            return json_block(json_rows(data), names, self.limits)
        return None

    @staticmethod
    def direct_kept(request: PredictionRequest, params: PredictionParams) -> np.ndarray | None:
        """The passthrough values of a small plain CSV body (a JSON object per row, as ``AsSent``
        gives them) for a direct block's JSON answer; None: the general path keeps them."""
        if split_content_type(request.content_type)[0] not in CSV_TYPES:
            return None
        return csv_objects(request.body, params.passthrough_columns)

    def _serve_block(
        self,
        request: PredictionRequest,
        trace: Trace,
        deployment: Deployment,
        model: OnnxModel,
        params: PredictionParams,
        block: np.ndarray | dict[str, np.ndarray],
        kept: np.ndarray | None = None,
    ) -> tuple[Answer, str]:
        """The rest of ``_serve`` for a direct block: the same scoring, checks, humility and capture
        (``kept``: the passthrough values, JSON answers only)."""
        feeds = None
        if isinstance(block, dict):
            columns = block
            trace.rows = len(next(iter(block.values())))
        else:
            trace.rows = len(block)
            columns = dict(zip(model.feature_names, np.ascontiguousarray(block.T), strict=True))
            feeds = model.block_feeds(block)
        started = time.perf_counter()
        result = self.score(model, deployment, None, columns, params, feeds=feeds)
        result.passthrough_tokens = kept
        trace.execution_ms = (time.perf_counter() - started) * 1000.0
        self.apply_humility(deployment, model, columns, result)
        if self.sink is not None:
            self.capture(self.sink, deployment, model, columns, result, None)
        if wants_csv(request.accept):
            return self.csv_answer(result), CSV_MEDIA
        return encode_json(result), JSON_MEDIA

    def _serve_time_series(
        self, request: PredictionRequest, trace: Trace, deployment: Deployment, model: OnnxModel, explain: bool
    ) -> tuple[Answer, str]:
        """The same URL, detected by the model: forecasts from the history in the request."""
        from drcompat.timeseries import parse_time_series_params, plan_forecast

        if explain:
            raise BadRequest("Prediction explanations are not available for time series deployments.")
        params = parse_prediction_params(request.query, time_series=True)
        if params.passthrough_columns or params.passthrough_all:
            raise BadRequest("passthroughColumns are not supported for time series deployments.")
        ts_params = parse_time_series_params(request.query)
        frame = decode_body(
            request.body, request.content_type, request.content_encoding, self.settings.max_decompressed_bytes
        )
        self.limits.check_frame(frame)
        check_finite_frame(frame)
        names = [f.name for f in model.metadata.features]
        forecast = plan_forecast(frame, model.time_series, ts_params, names)
        trace.rows = len(frame)
        scores = model.predict(forecast.features)
        result = PredictionResult(metadata=model.metadata, rows=len(forecast.distances), values=scores.values)
        result.time_series = forecast
        result.original_format_timestamp = deployment.settings.get("originalFormatTimestamp") is True
        check_finite_outputs(scores.values, None)
        self.apply_humility(deployment, model, forecast.features, result)
        if wants_csv(request.accept):
            return self.csv_answer(result), CSV_MEDIA
        return encode_json(result), JSON_MEDIA

    def csv_answer(self, result: PredictionResult) -> Answer:
        """One piece, or (streaming doors, big answers) an iterator of pieces with the same bytes."""
        from drcompat.codecs.response_csv import encode_csv, iter_csv

        rows = self.settings.stream_csv_rows
        if rows > 0 and result.rows > rows:
            return iter_csv(result, rows)
        return encode_csv(result)

    def score(
        self,
        model: OnnxModel,
        deployment: Deployment,
        frame: pd.DataFrame | None,
        columns: dict[str, np.ndarray],
        params: PredictionParams,
        as_sent: AsSent | None = None,
        feeds: dict[str, np.ndarray] | None = None,
    ) -> PredictionResult:
        """Score the batch (``feeds``: the model's inputs when already built; ``frame`` None: a
        direct block, which never needs exposure columns and keeps passthrough values as tokens)."""
        meta = model.metadata
        try:
            scores = model.run(feeds) if feeds is not None else model.predict(columns)
        except MetadataError as exc:
            raise ModelError(f"Model {meta.model_id} produced output that does not match its metadata.") from exc
        check_scored(scores, columns)
        rows = len(frame) if frame is not None else len(next(iter(columns.values())))
        result = PredictionResult(metadata=meta, rows=rows, extra=scores.extra)
        check_finite_outputs(scores.values, scores.probabilities)
        if as_sent is not None:
            result.passthrough = as_sent.text
            result.passthrough_tokens = as_sent.json_objects()
        elif frame is not None:
            result.passthrough = passthrough_frame(frame, params)
        if meta.target_type is TargetType.REGRESSION:
            result.values = scores.values
            if meta.exposure is not None and not params.exclude_adjusted:
                assert scores.values is not None and frame is not None
                result.adjusted = scores.values * exposure_column(frame, meta.exposure.column)
            return result
        assert scores.probabilities is not None
        result.probabilities = scores.probabilities
        if meta.target_type is TargetType.BINARY:
            threshold = deployment.prediction_threshold
            result.threshold = meta.prediction_threshold if threshold is None else threshold
            positive = meta.class_labels.index(meta.positive_class)
            result.label_index = np.where(scores.probabilities[:, positive] >= result.threshold, positive, 1 - positive)
        else:
            result.label_index = np.argmax(scores.probabilities, axis=1)
        return result

    @staticmethod
    def capture(
        sink: CaptureSink,
        deployment: Deployment,
        model: OnnxModel,
        columns: dict[str, np.ndarray],
        result: PredictionResult,
        association: np.ndarray | None,
    ) -> None:
        """Hand the scored batch to monitoring; a failing sink never fails the prediction."""
        values, probabilities, labels = result.values, result.probabilities, result.label_index
        batch = ScoredBatch(
            deployment.id, model.metadata, columns, values, probabilities, labels, association, time.time()
        )
        try:
            sink.scored(batch)
        except Exception:
            log.exception("monitoring capture failed")

    @staticmethod
    def apply_humility(
        deployment: Deployment, model: OnnxModel, columns: dict[str, np.ndarray], result: PredictionResult
    ) -> None:
        """Evaluate the deployment's humility rules over the batch (480 on a throwError rule)."""
        if not deployment.humility_rules:
            return
        classes = result.label_index if model.metadata.target_type is TargetType.MULTICLASS else None
        output = explained_output(model, Scores(values=result.values, probabilities=result.probabilities), classes)
        result.humility = evaluate_humility(
            deployment.humility_rules, model.metadata, columns, output, result.threshold
        )


def wants_association(deployment: Deployment) -> bool:
    """Whether the deployment names an association id column (the same test as below)."""
    setting = deployment.settings.get("associationId")
    return isinstance(setting, dict) and isinstance(setting.get("columnNames"), list) and bool(setting["columnNames"])


def association_column(deployment: Deployment, frame: pd.DataFrame) -> np.ndarray | None:
    """The association ids of the rows, when the deployment names a column (400 if required and absent)."""
    setting = deployment.settings.get("associationId")
    if not isinstance(setting, dict) or not isinstance(setting.get("columnNames"), list) or not setting["columnNames"]:
        return None
    name = str(setting["columnNames"][0])
    if name in frame.columns:
        return frame[name].to_numpy()
    if setting.get("requiredInPredictionRequests"):
        raise BadRequest(f"The association ID column {name!r} is required in prediction requests.")
    return None


def check_scored(scores: Scores, columns: dict[str, np.ndarray]) -> None:
    """A prediction is never null: rows the model could not score are a 400 naming them and
    the columns they leave empty (the model's pipeline, not this service, imputes)."""
    output = scores.values if scores.values is not None else scores.probabilities
    if output is None:
        return
    bad = np.isnan(output) if output.ndim == 1 else np.isnan(output).any(axis=1)  # inf: check_finite_outputs
    if not bool(bad.any()):
        return
    rows = np.flatnonzero(bad)
    empty = [
        name
        for name, column in columns.items()
        if (column.dtype.kind == "f" and bool(np.isnan(column[rows]).any()))
        or (column.dtype == object and bool((column[rows] == "").any()))
    ]
    shown = ", ".join(str(r) for r in rows[:10]) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
    why = f" (missing values in {', '.join(empty)})" if empty else ""
    raise BadRequest(
        f"The model returned no prediction for rows {shown}{why}; this model cannot score missing values there."
    )


def exposure_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """The exposure of each row: a positive number, needed for the exposure-adjusted prediction."""
    import pandas as pd

    if name not in frame.columns:
        raise BadRequest(f"Exposure column {name!r} is missing: excludeAdjustedPredictions=false needs it.")
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~(np.isfinite(values) & (values > 0))
    if bool(bad.any()):
        rows = ", ".join(str(r) for r in np.flatnonzero(bad)[:10])
        raise BadRequest(f"Exposure column {name!r} must be a positive number on every row: rows {rows}.")
    return values


def passthrough_frame(frame: pd.DataFrame, params: PredictionParams) -> pd.DataFrame | None:
    if params.passthrough_all:
        return frame
    if not params.passthrough_columns:
        return None
    wanted = list(dict.fromkeys(params.passthrough_columns))
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise BadRequest(f"Passthrough columns not in the data: {', '.join(missing)}.")
    return frame[wanted]
