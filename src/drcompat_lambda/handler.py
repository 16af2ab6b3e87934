"""Build a Lambda handler once per container: service, warm models, logs, metrics and tracing.

What the first prediction needs runs at import time: settings, the service, and the bundled
models loaded into the warm cache. Prediction events are answered by ``direct`` (no ASGI stack);
every other event goes to the full FastAPI app through Mangum, built on the first such event (or
at import, for functions that serve nothing else). Where init runs before any request (SnapStart
snapshots it; provisioned concurrency) it costs no request anything, so everything is done then:
the full app built and time-series models (and with them pandas) loaded too.
``lifespan="off"`` because Mangum would otherwise run startup hooks on every invocation.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from drcompat.api.endpoint import PredictionEndpoint
from drcompat.config import Settings
from drcompat.monitoring.capture import sink_for
from drcompat.observe import Observer, RequestRecord
from drcompat.predict import PredictionService
from drcompat_lambda.direct import DirectRoutes

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "drcompat")


def request_observer(metrics: Metrics, logger: Logger) -> Callable[[RequestRecord], None]:
    """One structured access log line per request; metrics: requests, rows, latency, cache hits,
    and errors by status (a metric of its own, with Status and Route dimensions)."""

    def observe(record: RequestRecord) -> None:
        logger.info(
            "request served",
            extra={
                "route": record.route,
                "deployment_id": record.deployment_id,
                "status": record.status,
                "rows": record.rows,
                "model_id": record.model_id,
                "model_cache_hit": record.cache_hit,
                "latency_ms": round(record.elapsed_ms, 3),
            },
        )
        metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="Rows", unit=MetricUnit.Count, value=record.rows)
        metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=record.elapsed_ms)
        if record.cache_hit is not None:
            name = "ModelCacheHits" if record.cache_hit else "ModelCacheMisses"
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        if record.status >= 400:
            with single_metric(name="Errors", unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
                metric.add_dimension(name="Status", value=str(record.status))
                metric.add_dimension(name="Route", value=record.route)

    return observe


class FullApp:
    """The FastAPI app over the handler's service, wrapped by Mangum, built once on first use."""

    def __init__(self, settings: Settings, service: PredictionService, observer: Observer) -> None:
        self.settings, self.service, self.observer = settings, service, observer
        self._app: Any = None
        self._asgi: Any = None

    def app(self) -> Any:
        if self._app is None:
            from mangum import Mangum

            from drcompat.api import create_app

            self._app = create_app(self.settings, self.service, observer=self.observer)
            self._asgi = Mangum(self._app, lifespan="off")
        return self._app

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.app()
        return self._asgi(event, context)


def build_handler(service_name: str, warm: bool = True, direct: bool = True) -> tuple[Handler, FullApp]:
    """The Lambda entry point and the full app behind it (``.app()`` builds it; exposed for tests).

    ``warm`` loads the deployed models at import (prediction functions; the management function
    does not); ``direct`` answers prediction events without the app, which is then built on the
    first other event (``direct=False``: at import, for functions whose every event needs it)."""
    logger = Logger(service=service_name)
    metrics = Metrics(namespace=NAMESPACE, service=service_name)
    observer = request_observer(metrics, logger)
    # One request at a time per container, and Mangum runs a fresh event loop per invocation, so a
    # thread-pool hop would only start a new thread for nothing: every body is scored inline.
    settings = Settings(explain_inline=True, inline_body_bytes=sys.maxsize)
    service = PredictionService(settings)
    ahead = init_ahead_of_requests()
    if warm:  # time-series models import pandas (~120 ms): on demand, loaded on their first request
        service.warm(time_series=ahead)
    if settings.monitoring_enabled:  # (as create_app would: the direct path records the same)
        service.sink = sink_for(service, settings.monitoring_flush_seconds, settings.monitoring_flush_rows)
    full = FullApp(settings, service, observer)
    routes = {"predictions": service.predict, "predictionExplanations": service.explain}
    answer_directly = DirectRoutes(
        settings, {route: PredictionEndpoint(route, serve, service, observer) for route, serve in routes.items()}
    )
    if ahead or not direct:
        full.app()

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        event = without_stage_prefix(event)
        response = answer_directly(event) if direct else None
        return response if response is not None else full(event, context)

    if tracing_enabled():
        # Imported only when on: the X-Ray SDK costs ~180 ms of cold start even when disabled.
        from aws_lambda_powertools import Tracer

        handler = Tracer(service=service_name).capture_lambda_handler(handler, capture_response=False)
    return handler, full


def init_ahead_of_requests() -> bool:
    """SnapStart (its snapshot) and provisioned concurrency run init before any request arrives."""
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand") in ("snap-start", "provisioned-concurrency")


def tracing_enabled() -> bool:
    """The template sets POWERTOOLS_TRACE_DISABLED from its EnableTracing parameter."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower()
    return disabled in ("false", "0", "no") and "AWS_LAMBDA_FUNCTION_NAME" in os.environ


def without_stage_prefix(event: dict[str, Any]) -> dict[str, Any]:
    """An HTTP API stage other than ``$default`` puts its name in front of the path (the REST API's
    events and function URLs do not); the app's routes start at /predApi, so it is taken off."""
    context = event.get("requestContext")
    if event.get("version") != "2.0" or not isinstance(context, dict):
        return event
    stage, http = context.get("stage"), context.get("http")
    if not stage or stage == "$default" or not isinstance(http, dict):
        return event
    prefix, path = f"/{stage}", str(http.get("path", ""))
    if path != prefix and not path.startswith(prefix + "/"):
        return event
    http = {**http, "path": path[len(prefix) :] or "/"}
    return {**event, "requestContext": {**context, "http": http}}
