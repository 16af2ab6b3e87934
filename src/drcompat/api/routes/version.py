"""``GET /api/v2/version/``: the first call DataRobot's official client makes.

``dr.Client`` reads ``versionString`` and compares its major.minor with the server version it
was built for (``datarobot`` 3.20 expects 2.49); an older minor only warns, a newer major refuses.
Like DataRobot's, the route needs a valid API token, so the client's 401 message applies.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from drcompat import __version__
from drcompat.auth import authenticate, token_from_header
from drcompat.predict import PredictionService

API_MAJOR, API_MINOR = 2, 49


def add_version_routes(app: FastAPI, service: PredictionService) -> None:
    @app.get("/api/v2/version/", summary="The API version (what DataRobot's client checks)")
    async def version(request: Request) -> dict[str, Any]:
        authenticate(service.registry.snapshot(), token_from_header(request.headers.get("authorization")))
        return {
            "major": API_MAJOR,
            "minor": API_MINOR,
            "versionString": f"{API_MAJOR}.{API_MINOR}.0",
            "releasedVersion": f"drcompat-{__version__}",
        }
