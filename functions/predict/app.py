"""Lambda handler for the predict function: Mangum over the shared FastAPI app.

Everything expensive happens at import (once per container): settings, the app, and loading the
bundled models into the warm cache, so the first invocation is already a cache hit.
``lifespan="off"`` because Mangum would otherwise run startup hooks on every invocation.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from drcompat.api import create_app
from drcompat.config import Settings

logger = Logger(service="drcompat-predict")
settings = Settings()
app = create_app(settings, warm=True)
asgi_handler = Mangum(app, lifespan="off")


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return asgi_handler(event, context)  # type: ignore[arg-type]  # same duck-typed Lambda context
