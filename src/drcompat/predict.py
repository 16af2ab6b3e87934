"""The prediction path, top to bottom: authorise -> load -> parse -> score -> shape -> encode.

Framework-free: the FastAPI route and any other adapter hand it a ``PredictionRequest`` and get
bytes back. What the response headers need (model id, cache hit) is recorded on the request's
``Trace`` as soon as it is known, so error answers carry it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from drcompat.auth import authenticate, authorize, token_from_header
from drcompat.codecs.cells import CellLimits
from drcompat.codecs.request import decode_body
from drcompat.codecs.response_csv import encode_csv, iter_csv
from drcompat.codecs.response_json import encode_json
from drcompat.config import Settings
from drcompat.deployments import Deployment, DeploymentRegistry
from drcompat.errors import BadRequest, ModelError, NotFound
from drcompat.explain.service import explain as explain_rows
from drcompat.explain.service import explained_output
from drcompat.features import feature_columns, text_columns
from drcompat.finite import check_finite_frame, check_finite_inputs, check_finite_outputs
from drcompat.humility import evaluate as evaluate_humility
from drcompat.models import ModelCache, ModelStore, OnnxModel, Scores, TargetType
from drcompat.models.metadata import MetadataError
from drcompat.params import ExplanationParams, PredictionParams, parse_explanation_params, parse_prediction_params
from drcompat.result import PredictionResult
from drcompat.storage import Storage, storage_from_settings
from drcompat.timeseries import parse_time_series_params, plan_forecast

CSV_MEDIA = "text/csv"
JSON_MEDIA = "application/json"
# An answer: bytes, or the pieces of a big CSV answer when the door streams (stream_csv_rows).
Answer = bytes | Iterator[bytes]


@dataclass
class Trace:
    """Facts about a request that its response headers report, filled in as they become known."""

    model_id: str | None = None
    cache_hit: bool | None = None
    rows: int = 0


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
        self.store = ModelStore(self.storage, settings.onnx_intra_op_threads)
        self.cache = ModelCache(settings.model_cache_max_models, settings.model_cache_max_bytes)
        self.limits = CellLimits(settings.max_cells, settings.max_columns)

    def deployment(self, request: PredictionRequest) -> Deployment:
        """Who may call what: 401 without valid credentials, 404 unknown id, 403 out of scope."""
        token = token_from_header(request.authorization)
        snapshot = self.registry.snapshot()
        token_name = authenticate(snapshot, token)
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

    def warm(self) -> list[str]:
        """Load every deployed model now (cold start / SnapStart), so first requests hit."""
        loaded = []
        for deployment in self.registry.snapshot().deployments.values():
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
        deployment = self.deployment(request)
        model = self.model(deployment, trace)
        if model.time_series is not None:
            return self._serve_time_series(request, trace, deployment, model, explain)
        params = parse_explanation_params(request.query) if explain else parse_prediction_params(request.query)
        frame = decode_body(
            request.body,
            request.content_type,
            request.content_encoding,
            self.settings.max_decompressed_bytes,
            text_columns(model.metadata),
            self.limits,
        )
        trace.rows = len(frame)
        columns = feature_columns(frame, model.metadata)
        check_finite_inputs(columns)
        result = self.score(model, deployment, frame, columns, params)
        self.apply_humility(deployment, model, columns, result)
        if isinstance(params, ExplanationParams):
            settings = self.settings
            result.explanations = explain_rows(
                model, frame, columns, result, params, settings.explain_max_evaluations, settings.explain_max_batch
            )
        if wants_csv(request.accept):
            return self.csv_answer(result), CSV_MEDIA
        return encode_json(result), JSON_MEDIA

    def _serve_time_series(
        self, request: PredictionRequest, trace: Trace, deployment: Deployment, model: OnnxModel, explain: bool
    ) -> tuple[Answer, str]:
        """The same URL, detected by the model: forecasts from the history in the request."""
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
        check_finite_outputs(scores.values, None)
        self.apply_humility(deployment, model, forecast.features, result)
        if wants_csv(request.accept):
            return self.csv_answer(result), CSV_MEDIA
        return encode_json(result), JSON_MEDIA

    def csv_answer(self, result: PredictionResult) -> Answer:
        """One piece, or (streaming doors, big answers) an iterator of pieces with the same bytes."""
        rows = self.settings.stream_csv_rows
        if rows > 0 and result.rows > rows:
            return iter_csv(result, rows)
        return encode_csv(result)

    def score(
        self,
        model: OnnxModel,
        deployment: Deployment,
        frame: pd.DataFrame,
        columns: dict[str, np.ndarray],
        params: PredictionParams,
    ) -> PredictionResult:
        meta = model.metadata
        try:
            scores = model.predict(columns)
        except MetadataError as exc:
            raise ModelError(f"Model {meta.model_id} produced output that does not match its metadata.") from exc
        result = PredictionResult(metadata=meta, rows=len(frame), extra=scores.extra)
        check_finite_outputs(scores.values, scores.probabilities)
        result.passthrough = passthrough_frame(frame, params)
        if meta.target_type is TargetType.REGRESSION:
            result.values = scores.values
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
