"""``/api/v2/credentials/``: stored credentials as DataRobot's client manages them
(``dr.Credential.create_basic/create_s3/create_gcp/create_azure``, ``list``, ``get``, ``update``,
``delete``). Secrets go into the credential store (a mode-600 file locally, Secrets Manager in
AWS) and never come back out: every answer holds identity and type only. Jobs reference a
credential by its id (or name) in a runtime parameter of type ``credential``.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from drcompat.api.bodies import json_object
from drcompat.api.pagination import paginate
from drcompat.auth import authenticate, authorize_jobs, token_from_header
from drcompat.errors import ApiError, NotFound
from drcompat.jobs.credentials import ManagedCredentialStore
from drcompat.predict import PredictionService

PATH = "/api/v2/credentials"
MAX_BODY = 256 * 1024


def _answer(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


def add_credential_routes(app: FastAPI, service: PredictionService, store: ManagedCredentialStore | None) -> None:
    def check(request: Request) -> ManagedCredentialStore:
        snapshot = service.registry.snapshot()
        authorize_jobs(snapshot, authenticate(snapshot, token_from_header(request.headers.get("authorization"))))
        if store is None:
            raise ApiError("No credential store is configured (DRC_CREDENTIALS_FILE or a secret prefix).", 503)
        return store

    def one(found: ManagedCredentialStore, credential_id: str) -> dict[str, Any]:
        for record in found.records():
            if record["credentialId"] == credential_id:
                return record
        raise NotFound(f"Credential {credential_id} was not found.")

    @app.post(f"{PATH}/", status_code=201, summary="Store a credential (its secret is never returned)")
    async def create(request: Request) -> Response:
        found = check(request)
        return _answer(await run_in_threadpool(found.create, await json_object(request, MAX_BODY)), 201)

    @app.get(f"{PATH}/", summary="List stored credentials (no secrets)")
    async def listing(request: Request) -> dict[str, Any]:
        found = check(request)
        records = await run_in_threadpool(found.records)
        return paginate(request, sorted(records, key=lambda r: str(r["creationDate"])))

    @app.get(f"{PATH}/{{credential_id}}/", summary="One stored credential (no secrets)")
    async def get(credential_id: str, request: Request) -> dict[str, Any]:
        return one(check(request), credential_id)

    @app.patch(f"{PATH}/{{credential_id}}/", summary="Rename, describe or replace a credential's fields")
    async def update(credential_id: str, request: Request) -> Response:
        found = check(request)
        return _answer(await run_in_threadpool(found.update, credential_id, await json_object(request, MAX_BODY)))

    @app.delete(f"{PATH}/{{credential_id}}/", status_code=204, summary="Delete a stored credential")
    async def delete(credential_id: str, request: Request) -> Response:
        found = check(request)
        await run_in_threadpool(found.delete, credential_id)
        return Response(status_code=204)
