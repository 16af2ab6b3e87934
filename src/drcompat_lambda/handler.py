"""Build a Lambda handler once per container: app, warm models, logs, metrics and tracing.

Everything expensive runs at import time, which is also what SnapStart snapshots: settings, the
app, and the bundled models loaded into the warm cache. ``lifespan="off"`` because Mangum would
otherwise run startup hooks on every invocation.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from mangum import Mangum

from drcompat.api import create_app
from drcompat.config import Settings
from drcompat.observe import RequestRecord

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


def build_handler(service_name: str, warm: bool = True) -> tuple[Handler, Any]:
    """The Lambda entry point and the ASGI app it serves (the app is exposed for tests); ``warm``
    loads the deployed models at import (prediction functions; the management function does not)."""
    logger = Logger(service=service_name)
    metrics = Metrics(namespace=NAMESPACE, service=service_name)
    # One request at a time per container, and Mangum runs a fresh event loop per invocation, so a
    # thread-pool hop would only start a new thread for nothing: every body is scored inline.
    settings = Settings(explain_inline=True, inline_body_bytes=sys.maxsize)
    app = create_app(settings, warm=warm, observer=request_observer(metrics, logger))
    asgi = Mangum(app, lifespan="off")

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return asgi(without_stage_prefix(event), context)

    if tracing_enabled():
        # Imported only when on: the X-Ray SDK costs ~180 ms of cold start even when disabled.
        from aws_lambda_powertools import Tracer

        handler = Tracer(service=service_name).capture_lambda_handler(handler, capture_response=False)
    return handler, app


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
