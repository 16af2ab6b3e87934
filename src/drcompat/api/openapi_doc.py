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
    "entryPoint": {"type": "string", "description": "The entry point: a file item id or a .sh path (default run.sh)."},
    "environmentId": {"type": "string", "description": "The execution environment (default: the Python drop-in)."},
    "environmentVersionId": {"type": "string"},
    "resourceBundleId": {"type": "string", "description": "The runner size (default cpu.small)."},
    "description": {"type": "string"},
    "networkAccess": {"type": "string", "enum": ["public", "none"], "default": "public"},
    "timeoutSeconds": {"type": "number", "default": 3600},
    "runtimeParameterValues": {
        "description": "[{fieldName, type, value}] or fieldName -> value; a credential by id or name.",
        "oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object"}],
    },
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
_MULTIPART_JOB = {
    "schema": {
        "type": "object",
        "description": "The official client's form: settings as fields (JSON ones as JSON strings), then file parts "
        "each followed by its filePath (nested paths kept); filesToDelete names item ids.",
        "properties": {
            "name": {"type": "string"},
            **_SETTINGS,
            "runtimeParameterValues": {"type": "string", "description": "JSON: [{fieldName, type, value}]."},
            "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "filePath": {"type": "array", "items": {"type": "string"}},
            "filesToDelete": {"type": "array", "items": {"type": "string"}},
        },
    }
}


def _job_body(required: list[str] | None) -> dict[str, Any]:
    body = _json({"name": {"type": "string"}, **_SETTINGS}, required)
    body["content"]["multipart/form-data"] = _MULTIPART_JOB
    return body


_LIST = {"type": "array", "items": {"oneOf": [{"type": "integer"}, {"type": "string", "enum": ["*"]}]}}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    (f"{JOBS}/", "post"): _job_body(["name"]),
    (f"{JOBS}/{{job_id}}/", "patch"): _job_body(None),
    (f"{JOBS}/{{job_id}}/schedules/", "post"): _json(
        {
            "schedule": {
                "type": "object",
                "description": "DataRobot's schedule: lists per field, ['*'] for every (dayOfWeek 0-6 from Sunday).",
                "properties": {k: _LIST for k in ("minute", "hour", "dayOfMonth", "month", "dayOfWeek")},
            },
            "parameterOverrides": {"type": "array", "items": {"type": "object"}},
        },
        ["schedule"],
    ),
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
            "runtimeParameterValues": {
                "description": "Values for this run only: [{fieldName, type, value}] or fieldName -> value.",
                "oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object"}],
            },
            "description": {"type": "string"},
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
