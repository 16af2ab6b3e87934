"""``/api/v2/tokens/``: API tokens. Created with a secret shown once (only its SHA-256 is
stored), listed without secrets, scoped to deployments, revoked. Management tokens only."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from drcompat.api.bodies import json_object
from drcompat.api.management import manager, paginate
from drcompat.config import Settings
from drcompat.errors import BadRequest, Forbidden
from drcompat.predict import PredictionService
from drcompat.registry.service import RegistryService, TokenRecord

BASE = "/api/v2/tokens"


class TokenSchema(BaseModel):
    """A token as listed: its name, flags and scope; never its secret or digest."""

    name: str
    description: str = ""
    manage_deployments: bool = Field(serialization_alias="manageDeployments")
    manage_jobs: bool = Field(serialization_alias="manageJobs")
    deployments: list[str]
    expires_at: float | None = Field(default=None, serialization_alias="expiresAt")


def token_schema(record: TokenRecord) -> TokenSchema:
    return TokenSchema(
        name=record.name,
        description=record.description,
        manage_deployments=record.manage_deployments,
        manage_jobs=record.manage_jobs,
        deployments=record.deployments,
        expires_at=record.expires_at,
    )


def token_json(record: TokenRecord) -> dict[str, Any]:
    return token_schema(record).model_dump(by_alias=True)


def add_token_routes(app: FastAPI, service: PredictionService, settings: Settings, registry: RegistryService) -> None:
    @app.get(f"{BASE}/", summary="List API tokens (names, flags, scope; never secrets)")
    async def list_tokens(request: Request) -> dict[str, Any]:
        manager(service.registry, request)
        return paginate(settings, request, [token_json(t) for t in registry.list_tokens()])

    @app.post(f"{BASE}/", status_code=201, summary="Create a token; the secret is in this answer only")
    async def create_token(request: Request) -> Response:
        caller = manager(service.registry, request)
        body = await json_object(request)
        if body.get("manageJobs") is True and caller not in service.registry.snapshot().job_managers:
            # running a job is running code: only a token that may already do so can grant it
            raise Forbidden("Only a token with manageJobs may create a token with manageJobs.")
        secret, record = registry.create_token(
            name=body.get("name", ""),
            deployments=body.get("deployments", []),
            manage_deployments=body.get("manageDeployments", False),
            manage_jobs=body.get("manageJobs", False),
            description=body.get("description", ""),
            expires_at=body.get("expiresAt"),
        )
        payload = {**token_json(record), "token": secret}
        return Response(
            orjson.dumps(payload), 201, media_type="application/json", headers={"Cache-Control": "no-store"}
        )

    @app.get(f"{BASE}/{{name}}/", summary="One token's flags and scope", response_model=TokenSchema)
    async def get_token(name: str, request: Request) -> TokenSchema:
        manager(service.registry, request)
        return token_schema(registry.get_token(name))

    @app.patch(f"{BASE}/{{name}}/", summary="Scope a token: addDeployments / removeDeployments")
    async def scope_token(name: str, request: Request) -> dict[str, Any]:
        manager(service.registry, request)
        body = await json_object(request)
        unknown = sorted(set(body) - {"addDeployments", "removeDeployments"})
        if unknown:
            raise BadRequest(f"Unknown fields: {', '.join(unknown)} (send addDeployments and/or removeDeployments).")
        record = registry.scope_token(name, body.get("addDeployments", []), body.get("removeDeployments", []))
        return token_json(record)

    @app.delete(f"{BASE}/{{name}}/", summary="Revoke a token (it stops working at once)")
    async def revoke_token(name: str, request: Request) -> Response:
        caller = manager(service.registry, request)
        if name == caller:
            raise BadRequest("A token cannot revoke itself; use another management token.")
        registry.revoke_token(name)
        return Response(status_code=204)
