"""``/api/v2/executionEnvironments/`` and ``/api/v2/mlops/compute/bundles/``: the job runners and
the sizes jobs may use, read-only (see ``drcompat.jobs.environments``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from drcompat.api.pagination import paginate
from drcompat.auth import authenticate, token_from_header
from drcompat.errors import NotFound
from drcompat.jobs import environments as catalogue
from drcompat.predict import PredictionService

ENVIRONMENTS = "/api/v2/executionEnvironments"
BUNDLES = "/api/v2/mlops/compute/bundles"


def add_environment_routes(app: FastAPI, service: PredictionService) -> None:
    def check(request: Request) -> None:
        authenticate(service.registry.snapshot(), token_from_header(request.headers.get("authorization")))

    @app.get(f"{ENVIRONMENTS}/", summary="Execution environments (job runners)")
    async def list_environments(request: Request) -> dict[str, Any]:
        check(request)
        found = catalogue.environments()
        params = request.query_params
        search = (params.get("searchFor") or params.get("search_for") or "").lower()
        if search:
            found = [e for e in found if search in e["name"].lower() or search in e["description"].lower()]
        return paginate(request, found, default_limit=20)

    @app.get(f"{ENVIRONMENTS}/{{environment_id}}/", summary="One execution environment")
    async def get_environment(environment_id: str, request: Request) -> dict[str, Any]:
        check(request)
        return catalogue.environment(environment_id)

    @app.get(f"{ENVIRONMENTS}/{{environment_id}}/versions/", summary="An environment's versions")
    async def list_versions(environment_id: str, request: Request) -> dict[str, Any]:
        check(request)
        return paginate(request, catalogue.versions(environment_id))

    @app.get(f"{ENVIRONMENTS}/{{environment_id}}/versions/{{version_id}}/", summary="One environment version")
    async def get_version(environment_id: str, version_id: str, request: Request) -> dict[str, Any]:
        check(request)
        for version in catalogue.versions(environment_id):
            if version["id"] == version_id:
                return version
        raise NotFound(f"Environment version {version_id} was not found.")

    @app.get(f"{BUNDLES}/", summary="Resource bundles (job sizes)")
    async def list_bundles(request: Request) -> dict[str, Any]:
        check(request)
        return paginate(request, [catalogue.bundle_record(b) for b in catalogue.resource_bundles()])

    @app.get(f"{BUNDLES}/{{bundle_id}}/", summary="One resource bundle")
    async def get_bundle(bundle_id: str, request: Request) -> dict[str, Any]:
        check(request)
        return catalogue.bundle_record(catalogue.resource_bundle(bundle_id))
