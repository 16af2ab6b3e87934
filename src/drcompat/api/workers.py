"""What each worker process builds when the local server runs ``WORKERS`` > 1.

uvicorn starts extra workers as fresh processes from import strings, so the app factory and the
protocol class carrying the limits live here, built from the same environment settings.
"""

from __future__ import annotations

from fastapi import FastAPI

from drcompat.api.app import create_app
from drcompat.api.protocol import protocol_class
from drcompat.config import Settings

settings = Settings()
Protocol = protocol_class(
    settings.max_connections,
    settings.header_timeout_seconds,
    settings.max_header_bytes,
    settings.max_request_line_bytes,
)


def app() -> FastAPI:
    """One worker's app, its models loaded before it takes requests (and its prediction routes
    handed to this process's protocol class for the direct path)."""
    built = create_app(settings, warm=True)
    Protocol.direct = getattr(built.state, "direct_http", None)
    return built
