"""The app behind the AWS Lambda Web Adapter (FrontDoor=FunctionUrl, RESPONSE_STREAM).

``run.sh`` starts uvicorn with ``build_app`` as a factory; the adapter turns each function-URL
invocation into an HTTP request to it on ``AWS_LWA_PORT`` and streams the answer back, so answers
may pass Lambda's 6 MB buffered limit. It is the same FastAPI app the Mangum handler serves, with
big CSV answers encoded in pieces (``DRC_STREAM_CSV_ROWS``). There is no per-invocation wrapper to
flush metrics here, so each request's metrics are flushed as it finishes.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from drcompat.api import create_app
from drcompat.config import Settings
from drcompat.observe import RequestRecord
from drcompat_lambda.handler import NAMESPACE, request_observer


def build_app() -> Any:
    """Settings, the app and the warm bundled models, once per container (uvicorn's factory)."""
    service_name = os.environ.get("POWERTOOLS_SERVICE_NAME", "drcompat-predict")
    logger = Logger(service=service_name)
    metrics = Metrics(namespace=NAMESPACE, service=service_name)
    observe = request_observer(metrics, logger)

    def observe_and_flush(record: RequestRecord) -> None:
        observe(record)
        metrics.flush_metrics()

    # One request at a time per execution environment, as with Mangum, but uvicorn keeps one event
    # loop for good: explanations may take the thread pool as they do under `make serve`.
    return create_app(Settings(), warm=True, observer=observe_and_flush)
