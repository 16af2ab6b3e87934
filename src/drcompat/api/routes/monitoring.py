"""DataRobot's deployment monitoring routes, as the official client reads them.

``serviceStats``, ``serviceStatsOverTime``, ``targetDrift``, ``featureDrift``, ``accuracy``,
``accuracyOverTime``, the association-ID part of ``settings``, ``actuals/fromJSON`` (202 with a
``Location`` to a status resource that answers 303 when done, the protocol the client waits on)
and the monitoring page. Query parameters are accepted in the client's snake_case and in
DataRobot's camelCase.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from drcompat.api.bodies import read_body
from drcompat.api.pagination import paginate
from drcompat.api.routes.monitoring_page import PAGE
from drcompat.api.routes.monitoring_schemas import (
    AccuracyOut,
    AccuracyOverTimeOut,
    FeatureDriftOut,
    ServiceStatsOut,
    ServiceStatsOverTimeOut,
    TargetDriftOut,
)
from drcompat.auth import authenticate, token_from_header
from drcompat.deployments import Deployment
from drcompat.errors import BadRequest, Forbidden, NotFound
from drcompat.models.metadata import ModelMetadata
from drcompat.monitoring import accuracy as acc
from drcompat.monitoring import queries
from drcompat.monitoring.association import association_settings, submit_actuals, update_association_settings
from drcompat.monitoring.baseline import model_baseline
from drcompat.monitoring.drift import METRICS
from drcompat.monitoring.period import Period, buckets, iso, parse_bucket, parse_period
from drcompat.predict import PredictionService
from drcompat.storage import StorageKeyError

API = "/api/v2/deployments/{deployment_id}"


def param(request: Request, *names: str) -> str | None:
    for name in names:
        value = request.query_params.get(name)
        if value not in (None, ""):
            return value
    return None


def number(request: Request, default: float, *names: str) -> float:
    text = param(request, *names)
    if text is None:
        return default
    try:
        return float(text)
    except ValueError as exc:
        raise BadRequest(f"{names[0]} must be a number.") from exc


def add_monitoring_routes(app: FastAPI, service: PredictionService) -> None:
    storage = service.storage

    def deployment_for(request: Request, deployment_id: str) -> Deployment:
        snapshot = service.registry.snapshot()
        token_name = authenticate(snapshot, token_from_header(request.headers.get("authorization")))
        deployment = snapshot.deployments.get(deployment_id)
        if deployment is None:
            raise NotFound(f"Deployment {deployment_id} was not found.")
        if token_name not in deployment.tokens:
            raise Forbidden(f"This API key is not allowed to use deployment {deployment_id}.")
        return deployment

    def metadata_for(deployment: Deployment, request: Request) -> ModelMetadata:
        model_id = param(request, "modelId", "model_id") or deployment.model_id
        try:
            return service.store.metadata(model_id)
        except Exception as exc:
            raise NotFound(f"Model {model_id} was not found.") from exc

    def period_of(request: Request) -> Period:
        return parse_period(param(request, "start"), param(request, "end"))

    def status_location(request: Request, deployment_id: str, status_id: str) -> str:
        base = str(request.base_url).rstrip("/") + API.format(deployment_id=deployment_id)
        return f"{base}/monitoringStatus/{status_id}/"

    def accepted(request: Request, deployment_id: str, kind: str, detail: dict[str, Any]) -> Response:
        status_id = f"{int(datetime.now(UTC).timestamp() * 1000):013d}{secrets.token_hex(6)}"
        record = {"status": "COMPLETED", "kind": kind, **detail, "created": iso(datetime.now(UTC))}
        storage.write(f"monitoring/{deployment_id}/status/{status_id}.json", orjson.dumps(record))
        location = status_location(request, deployment_id, status_id)
        return Response(
            orjson.dumps({"statusId": status_id}), 202, headers={"Location": location}, media_type="application/json"
        )

    # --- association ID settings and actuals ------------------------------------------------
    MANAGED_SETTINGS = {"predictionThreshold", "humilityRules", "datarobotKey"}  # the management API's

    def management(request: Request) -> Any:
        """The management API's settings handlers (predictionThreshold, humilityRules, datarobotKey)."""
        return getattr(request.app.state, "deployment_settings", None)

    @app.get(API + "/settings/", summary="Deployment settings: association ID, and what management tokens may edit")
    async def get_settings(deployment_id: str, request: Request) -> dict[str, Any]:
        answer = {"associationId": association_settings(deployment_for(request, deployment_id))}
        handlers = management(request)
        if handlers is not None:
            # a token scoped to the deployment without manageDeployments sees the association part only
            with contextlib.suppress(Forbidden):
                answer = {**handlers[0](deployment_id, request), **answer}
        return answer

    @app.patch(API + "/settings/", summary="Change the association ID settings (asynchronous, 202)")
    async def patch_settings(deployment_id: str, request: Request) -> Response:
        deployment_for(request, deployment_id)
        body = await json_body(request)
        others = {k: v for k, v in body.items() if k != "associationId"}
        unknown = sorted(set(others) - MANAGED_SETTINGS)
        if unknown:  # named before any permission is needed to change the others
            raise BadRequest(
                f"Unknown settings: {', '.join(unknown)} "
                f"(editable: associationId, {', '.join(sorted(MANAGED_SETTINGS))})."
            )
        if others:  # management settings: answered at once (200), association ID included if sent
            handlers = management(request)
            if handlers is None:
                raise BadRequest("Only associationId settings can be changed here.")
            answer = handlers[1](deployment_id, request, others)
            if "associationId" in body:
                answer["associationId"] = update_association_settings(storage, deployment_id, body["associationId"])
            return Response(orjson.dumps(answer), 200, media_type="application/json")
        if "associationId" not in body:
            raise BadRequest("The body must hold associationId.")
        result = update_association_settings(storage, deployment_id, body["associationId"])
        return accepted(request, deployment_id, "settings", {"associationId": result})

    @app.post(API + "/actuals/fromJSON/", summary="Submit actual values by association id (asynchronous, 202)")
    async def post_actuals(deployment_id: str, request: Request) -> Response:
        deployment_for(request, deployment_id)
        count = submit_actuals(storage, deployment_id, await json_body(request))
        return accepted(request, deployment_id, "actuals", {"rows": count})

    @app.get(API + "/monitoringStatus/{status_id}/", summary="Status of an asynchronous monitoring change")
    async def get_status(deployment_id: str, status_id: str, request: Request) -> Response:
        deployment_for(request, deployment_id)
        if not status_id.isalnum():
            raise NotFound(f"Status {status_id} was not found.")
        try:
            record = orjson.loads(storage.read(f"monitoring/{deployment_id}/status/{status_id}.json"))
        except StorageKeyError as exc:
            raise NotFound(f"Status {status_id} was not found.") from exc
        done = f"{str(request.base_url).rstrip('/')}{API.format(deployment_id=deployment_id)}/settings/"
        return Response(orjson.dumps(record), 303, headers={"Location": done}, media_type="application/json")

    # --- service health ---------------------------------------------------------------------
    @app.get(API + "/serviceStats/", summary="Service health over a period", response_model=ServiceStatsOut)
    async def service_stats(deployment_id: str, request: Request) -> dict[str, Any]:
        deployment = deployment_for(request, deployment_id)
        period = period_of(request)
        model_id = param(request, "modelId", "model_id")
        row = queries.merged(queries.aggregate_rows(storage, deployment_id, period), model_id)
        metrics = queries.service_metrics(
            row,
            number(request, 0.5, "executionTimeQuantile", "execution_time_quantile"),
            number(request, 0.5, "responseTimeQuantile", "response_time_quantile"),
        )
        return {"period": period.as_json(), "metrics": metrics, "modelId": model_id or deployment.model_id}

    @app.get(
        API + "/serviceStatsOverTime/",
        summary="One service health metric per time bucket",
        response_model=ServiceStatsOverTimeOut,
    )
    async def service_stats_over_time(deployment_id: str, request: Request) -> dict[str, Any]:
        deployment = deployment_for(request, deployment_id)
        period = period_of(request)
        size = parse_bucket(param(request, "bucketSize", "bucket_size"), period)
        metric = param(request, "metric") or "totalPredictions"
        quantile = number(request, 0.5, "quantile")
        model_id = param(request, "modelId", "model_id")
        rows = queries.aggregate_rows(storage, deployment_id, period)
        sample = queries.service_metrics({}, quantile, quantile)
        if metric not in sample:
            raise BadRequest(f"metric must be one of {', '.join(sample)}.")
        out = []
        for bucket, row in queries.over_time(rows, period, size, model_id):
            out.append({"period": bucket.as_json(), "value": queries.service_metrics(row, quantile, quantile)[metric]})
        summary = queries.service_metrics(queries.merged(rows, model_id), quantile, quantile)[metric]
        return {
            "metric": metric,
            "modelId": model_id or deployment.model_id,
            "buckets": out,
            "summary": {"period": period.as_json(), "value": summary},
        }

    # --- drift ------------------------------------------------------------------------------
    def drift_metric(request: Request) -> str:
        metric = param(request, "metric") or "psi"
        if metric not in METRICS:
            raise BadRequest(f"metric must be one of {', '.join(METRICS)}.")
        return metric

    @app.get(
        API + "/targetDrift/",
        summary="Drift of the predictions from the training baseline",
        response_model=TargetDriftOut,
    )
    async def target_drift(deployment_id: str, request: Request) -> dict[str, Any]:
        deployment = deployment_for(request, deployment_id)
        meta, period, metric = metadata_for(deployment, request), period_of(request), drift_metric(request)
        row = queries.merged(queries.aggregate_rows(storage, deployment_id, period), meta.model_id)
        drift = queries.target_drift(row, meta, metric)
        return {
            "period": period.as_json(),
            "metric": metric,
            "modelId": meta.model_id,
            "targetName": drift.name,
            "driftScore": drift.score,
            "sampleSize": drift.sample_size,
            "baselineSampleSize": drift.baseline_sample_size,
            "segmentValue": None,
        }

    @app.get(
        API + "/featureDrift/",
        summary="Drift of every feature from the training baseline",
        response_model=FeatureDriftOut,
    )
    async def feature_drift(deployment_id: str, request: Request) -> dict[str, Any]:
        deployment = deployment_for(request, deployment_id)
        meta, period, metric = metadata_for(deployment, request), period_of(request), drift_metric(request)
        row = queries.merged(queries.aggregate_rows(storage, deployment_id, period), meta.model_id)
        data = [
            {
                "name": d.name,
                "driftScore": d.score,
                "featureImpact": d.impact,
                "sampleSize": d.sample_size,
                "baselineSampleSize": d.baseline_sample_size,
            }
            for d in queries.feature_drift(row, meta, metric)
        ]
        return {"period": period.as_json(), "metric": metric, "modelId": meta.model_id, **paginate(request, data)}

    # --- accuracy ---------------------------------------------------------------------------
    def threshold_of(deployment: Deployment) -> float | None:
        return deployment.prediction_threshold

    @app.get(
        API + "/accuracy/", summary="Accuracy metrics from predictions matched with actuals", response_model=AccuracyOut
    )
    async def accuracy(deployment_id: str, request: Request) -> dict[str, Any]:
        deployment = deployment_for(request, deployment_id)
        meta, period = metadata_for(deployment, request), period_of(request)
        pairs = [p for p in queries.matched(storage, deployment_id, period) if p.get("modelId") == meta.model_id]
        values, count = queries.accuracy_metrics(pairs, meta, threshold_of(deployment))
        baseline = queries.holdout_baseline(meta)
        wanted = param(request, "metric")
        data = []
        for name, value in values.items():
            if wanted and name != wanted:
                continue
            base = baseline.get(name)
            change = (value - base) / abs(base) * 100 if value is not None and base else None
            data.append(
                {"metric": name, "value": value, "baselineValue": base, "percentChange": change, "sampleSize": count}
            )
        return {
            "period": period.as_json(),
            "modelId": meta.model_id,
            "data": data,
            "metrics": {d["metric"]: {k: v for k, v in d.items() if k != "metric"} for d in data},
        }

    @app.get(
        API + "/accuracyOverTime/", summary="One accuracy metric per time bucket", response_model=AccuracyOverTimeOut
    )
    async def accuracy_over_time(deployment_id: str, request: Request) -> dict[str, Any]:
        deployment = deployment_for(request, deployment_id)
        meta, period = metadata_for(deployment, request), period_of(request)
        return accuracy_series(deployment, meta, period, request)

    def accuracy_series(
        deployment: Deployment, meta: ModelMetadata, period: Period, request: Request
    ) -> dict[str, Any]:
        size = parse_bucket(param(request, "bucketSize", "bucket_size"), period)
        metric = param(request, "metric") or acc.DEFAULT[meta.target_type]
        if metric not in acc.metric_names(meta.target_type):
            raise BadRequest(f"metric must be one of {', '.join(acc.metric_names(meta.target_type))}.")
        pairs = [p for p in queries.matched(storage, deployment.id, period) if p.get("modelId") == meta.model_id]
        threshold = threshold_of(deployment)
        out = []
        for bucket in buckets(period, size):
            start, end = bucket.start.timestamp(), bucket.end.timestamp()
            inside = [p for p in pairs if start <= p["t"] < end]
            values, count = queries.accuracy_metrics(inside, meta, threshold)
            out.append(
                {"period": bucket.as_json(), "value": values.get(metric), "sampleSize": count, "modelId": meta.model_id}
            )
        values, count = queries.accuracy_metrics(pairs, meta, threshold)
        base = queries.holdout_baseline(meta).get(metric)
        return {
            "metric": metric,
            "modelId": meta.model_id,
            "buckets": out,
            "summary": {"period": period.as_json(), "value": values.get(metric), "sampleSize": count},
            "baseline": {"period": None, "value": base, "sampleSize": None},
            "baselines": [{"modelId": meta.model_id, "value": base, "sampleSize": None}],
        }

    # --- the page ---------------------------------------------------------------------------
    @app.get("/deployments/{deployment_id}/monitoring", response_class=HTMLResponse, include_in_schema=False)
    async def page(deployment_id: str) -> HTMLResponse:
        """The page holds no data: its script reads it with the token from the URL fragment."""
        if not deployment_id.isalnum():
            raise NotFound("Deployment not found.")
        return HTMLResponse(PAGE.replace("__DEPLOYMENT__", deployment_id), headers={"Cache-Control": "no-store"})

    @app.get(API + "/monitoringOverview/", summary="Everything the monitoring page draws, in one answer")
    async def overview(deployment_id: str, request: Request) -> dict[str, Any]:
        deployment = deployment_for(request, deployment_id)
        meta, period = metadata_for(deployment, request), period_of(request)
        size = parse_bucket(param(request, "bucketSize", "bucket_size"), period)
        rows = queries.aggregate_rows(storage, deployment_id, period)
        series = [(b, queries.service_metrics(r)) for b, r in queries.over_time(rows, period, size)]
        row = queries.merged(rows, meta.model_id)
        baseline = model_baseline(meta).prediction
        seen = row.get("predictionHist") or [0] * baseline.size
        return {
            "deploymentId": deployment_id,
            "label": deployment.label,
            "modelId": meta.model_id,
            "targetType": meta.target_type.value,
            "period": period.as_json(),
            "requests": [{"start": b.as_json()["start"], "value": m["totalRequests"]} for b, m in series],
            "latency": [{"start": b.as_json()["start"], "value": m["responseTime"]} for b, m in series],
            "drift": [
                {"name": d.name, "driftScore": d.score, "featureImpact": d.impact}
                for d in queries.feature_drift(row, meta)
            ],
            "predictions": {
                "labels": bin_labels(baseline.edges, baseline.labels),
                "actual": proportions(seen),
                "baseline": proportions(baseline.baseline),
            },
            "accuracy": accuracy_series(deployment, meta, period, request),
        }


def bin_labels(edges: tuple[float, ...], labels: tuple[str, ...]) -> list[str]:
    if labels:
        return [*labels, "other", "missing"]
    if not edges:
        return ["all", "missing"]
    cut = [f"{e:.3g}" for e in edges]
    return [f"<{cut[0]}", *(f"{a}-{b}" for a, b in itertools.pairwise(cut)), f">={cut[-1]}", "missing"]


def proportions(counts: Any) -> list[float]:
    total = float(sum(counts or []))
    return [float(c) / total for c in counts] if total else [0.0 for _ in counts or []]


async def json_body(request: Request) -> Any:
    """Any JSON value (the services check its shape), read with the shared cap: 413 past 16 MiB."""
    body = await read_body(request, 16 * 1024 * 1024)
    try:
        return orjson.loads(body or b"null")
    except orjson.JSONDecodeError as exc:
        raise BadRequest("The body must be JSON.") from exc
