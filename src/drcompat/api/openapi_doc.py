"""The OpenAPI document as the service answers: the statuses it really returns, and body schemas.

FastAPI documents a 422 on every route with parameters; this service never answers 422 (its
validation errors are 400 ``{"message"}``, like DataRobot's). The routes read their bodies
themselves (raw bytes, for speed and for DataRobot's error messages), so FastAPI cannot see
their shapes: they are declared here, by path and method, without touching the handlers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"message": {"type": "string", "description": "What is wrong, in words."}},
    "required": ["message"],
}
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}

STATUS = {
    "400": "Bad request: malformed body, missing or mistyped columns, bad parameters (the message says which).",
    "401": "No valid API token (or a wrong datarobot-key).",
    "403": "The token may not use this deployment or API.",
    "404": "Unknown deployment, job, run or policy.",
    "413": "Body (or inflated body, or explanation work) over the limit.",
    "414": "Request line over 8192 bytes.",
    "415": "Unsupported Content-Type or Content-Encoding.",
    "480": "A humility rule with the throwError action fired (DataRobot's status).",
    "500": "The deployment's model cannot be loaded.",
    "503": "No deployment registry can be read.",
}
PREDICTION_STATUSES = ("400", "401", "403", "404", "413", "414", "415", "480", "500", "503")
JOB_STATUSES = ("400", "401", "403", "404", "414")

_SETTINGS: dict[str, Any] = {
    "entryPoint": {"type": "string", "description": "The entry point .sh (default run.sh)."},
    "description": {"type": "string"},
    "networkAccess": {"type": "string", "enum": ["public", "none"], "default": "public"},
    "timeoutSeconds": {"type": "number", "default": 3600},
    "runtimeParameterValues": {"type": "object", "description": "fieldName -> value (or a stored credential's name)."},
    "tags": {"type": "object"},
    "metrics": {"type": "object"},
    "trainingParameters": {"type": "object"},
    "artifacts": {"type": "object"},
}


def _json(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return {"required": bool(required), "content": {"application/json": {"schema": schema}}}


JOBS = "/api/v2/customJobs"
POLICIES = "/api/v2/deployments/{deployment_id}/retrainingPolicies"
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    (f"{JOBS}/", "post"): _json({"name": {"type": "string"}, **_SETTINGS}, ["name"]),
    (f"{JOBS}/{{job_id}}/", "patch"): _json({"name": {"type": "string"}, **_SETTINGS}),
    (f"{JOBS}/{{job_id}}/items/", "post"): {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "filePath": {"type": "string", "description": "The path of a single file part."},
                        "archive": {"type": "string", "format": "binary", "description": "A zip of files."},
                    },
                }
            }
        },
    },
    (f"{JOBS}/{{job_id}}/runs/", "post"): _json(
        {
            "runtimeParameterValues": {"type": "object", "description": "Values for this run only."},
            "deploymentId": {"type": "string", "description": "The deployment the run works for."},
        }
    ),
    (f"{POLICIES}/", "post"): _json(
        {
            "jobId": {"type": "string"},
            "schedule": {"type": "string", "description": "rate(N minutes|hours|days) or cron(...)."},
            "tolerance": {"type": "number", "minimum": 0, "default": 0},
        },
        ["jobId", "schedule"],
    ),
}


def _responses(statuses: tuple[str, ...]) -> dict[str, Any]:
    return {status: {"description": STATUS[status], "content": ERROR} for status in statuses}


def document(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            prediction = path.startswith("/predApi/")
            statuses: tuple[str, ...] = (
                PREDICTION_STATUSES if prediction else JOB_STATUSES if path.startswith("/api/v2/") else ()
            )
            if path == "/api/v2/version/":
                statuses = ("401", "414")
            responses.update(_responses(statuses))
            if (path, method) in BODIES:
                operation["requestBody"] = BODIES[(path, method)]
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components["Error"] = ERROR_SCHEMA
    return schema


def install_openapi(app: FastAPI) -> None:
    """Build the document once, on first request, as FastAPI does."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
