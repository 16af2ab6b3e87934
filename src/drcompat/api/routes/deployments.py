"""``/api/v2/deployments/``: DataRobot's deployment resource as its official client reads it.

List (paginated), get, create from an imported model (``fromLearningModel/``, the route
``Deployment.create_from_learning_model`` calls, and ``fromImportedModel/``), update, delete,
model replacement (``PATCH .../model/``, asynchronous in DataRobot's protocol: 202 and a status
location that redirects to the deployment), replacement validation, features and settings.
``defaultPredictionServer.url`` is this service, so ``datarobot_predict`` scores through it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from drcompat.api.bodies import json_object
from drcompat.api.management import manager, paginate, public_base
from drcompat.config import Settings
from drcompat.errors import ApiError, BadRequest
from drcompat.predict import PredictionService
from drcompat.registry.service import DeploymentRecord, RegistryService

BASE = "/api/v2/deployments"
SERVER_ID = "drcompat"
PERMISSIONS = ["CAN_MAKE_PREDICTIONS", "CAN_EDIT_DEPLOYMENT", "CAN_DELETE_DEPLOYMENT", "CAN_REPLACE_MODEL"]
REPLACEMENT_REASONS = ("ACCURACY", "DATA_DRIFT", "ERRORS", "SCHEDULED_REFRESH", "SCORING_SPEED", "OTHER")


class Rejected(ApiError):
    status = 422


class PredictionServer(BaseModel):
    id: str = SERVER_ID
    url: str
    datarobot_key: str = Field(default="", serialization_alias="datarobot-key")


class DeployedModel(BaseModel):
    id: str
    type: str
    target_name: str = Field(serialization_alias="targetName")
    target_type: str = Field(serialization_alias="targetType")
    project_id: str = Field(default="", serialization_alias="projectId")


class Health(BaseModel):
    status: str = "unknown"


class DeploymentSchema(BaseModel):
    """The fields ``dr.Deployment`` reads (camelCase on the wire)."""

    id: str
    label: str
    description: str | None = None
    status: str = "active"
    importance: str | None = None
    default_prediction_server: PredictionServer = Field(serialization_alias="defaultPredictionServer")
    model: DeployedModel
    model_package: dict[str, Any] = Field(serialization_alias="modelPackage")
    permissions: list[str] = Field(default_factory=lambda: list(PERMISSIONS))
    service_health: Health = Field(default_factory=Health, serialization_alias="serviceHealth")
    model_health: Health = Field(default_factory=Health, serialization_alias="modelHealth")
    accuracy_health: Health = Field(default_factory=Health, serialization_alias="accuracyHealth")
    prediction_environment: dict[str, Any] = Field(serialization_alias="predictionEnvironment")
    governance: dict[str, Any] = Field(default_factory=lambda: {"approvalStatus": "APPROVED"})
    created_at: str | None = Field(default=None, serialization_alias="createdAt")


def deployment_schema(record: DeploymentRecord, base: str) -> DeploymentSchema:
    meta = record.model
    name = meta.name if meta else ""
    model = DeployedModel(
        id=record.model_id,
        type=name,
        target_name=meta.target_name if meta else "",
        target_type=meta.target_type.value if meta else "",
    )
    return DeploymentSchema(
        id=record.id,
        label=record.label,
        description=record.description,
        importance=record.importance,
        default_prediction_server=PredictionServer(url=base, datarobot_key=record.datarobot_key or ""),
        model=model,
        model_package={"id": record.model_id, "name": name, "registeredModelId": ""},
        prediction_environment={"platform": "aws", "name": "drcompat", "isManagedByManagementAgent": False},
        created_at=record.created_at,
    )


def settings_json(settings: dict[str, Any]) -> dict[str, Any]:
    # predictionIntervals: what the client re-applies after a model replacement (time series only in DataRobot)
    return {**settings, "predictionIntervals": {"enabled": False, "percentiles": []}}


def add_deployment_routes(app: FastAPI, service: PredictionService, settings: Settings) -> RegistryService:
    registry = RegistryService(service.storage, service.registry)

    def dump(record: DeploymentRecord, request: Request) -> dict[str, Any]:
        return deployment_schema(record, public_base(settings, request)).model_dump(by_alias=True)

    @app.get(f"{BASE}/", summary="List deployments (offset, limit, search, importance, orderBy)")
    async def list_deployments(request: Request) -> dict[str, Any]:
        manager(service.registry, request)
        query = request.query_params
        importance = {v.strip().upper() for v in (query.get("importance") or "").split(",") if v.strip()}
        order_by = query.get("orderBy") or query.get("order_by") or "label"
        records = registry.list_deployments(query.get("search"), importance or None, order_by)
        return paginate(settings, request, [dump(r, request) for r in records])

    def creator(key: str, status: int) -> Any:
        async def create(request: Request) -> Response:
            token_name = manager(service.registry, request)
            body = await json_object(request)
            model_id = body.get(key)
            if not isinstance(model_id, str) or not model_id:
                raise BadRequest(f"{key} is required: the id of an imported model (POST /api/v2/importedModels/).")
            names = ("label", "description", "importance", "predictionThreshold")
            fields: dict[str, Any] = {k: body.get(k) for k in names if k in body}
            deployment_id = registry.create_deployment(model_id, fields, [token_name])
            return app_json({"id": deployment_id}, status, {"Location": status_location(request, deployment_id)})

        return create

    for route, key, status, summary in (
        ("fromLearningModel", "modelId", 201, "Deploy a model (Deployment.create_from_learning_model)"),
        ("fromModelPackage", "modelPackageId", 202, "Deploy a model version (create_from_registered_model_version)"),
        ("fromImportedModel", "modelId", 201, "Deploy an imported model"),
    ):
        app.add_api_route(
            f"{BASE}/{route}/", creator(key, status), methods=["POST"], status_code=status, summary=summary
        )

    def status_location(request: Request, deployment_id: str) -> str:
        return f"{public_base(settings, request)}{BASE}/{deployment_id}/asyncStatus/"

    @app.get(f"{BASE}/{{deployment_id}}/", summary="Get a deployment", response_model=DeploymentSchema)
    async def get_deployment(deployment_id: str, request: Request) -> DeploymentSchema:
        manager(service.registry, request)
        return deployment_schema(registry.get_deployment(deployment_id), public_base(settings, request))

    @app.patch(f"{BASE}/{{deployment_id}}/", summary="Update label, description or importance")
    async def update_deployment(deployment_id: str, request: Request) -> Response:
        manager(service.registry, request)
        registry.update_deployment(deployment_id, await json_object(request))
        return Response(status_code=204)

    @app.delete(f"{BASE}/{{deployment_id}}/", summary="Delete a deployment (its model versions stay)")
    async def delete_deployment(deployment_id: str, request: Request) -> Response:
        manager(service.registry, request)
        registry.delete_deployment(deployment_id)
        return Response(status_code=204)

    def replacement_request(body: dict[str, Any]) -> str:
        if "modelPackageId" in body and "modelId" not in body:
            body["modelId"] = body["modelPackageId"]  # a model version id is the model id here
        model_id = body.get("modelId")
        if not isinstance(model_id, str) or not model_id:
            raise BadRequest("modelId is required: the id of an imported model.")
        return model_id

    @app.patch(f"{BASE}/{{deployment_id}}/model/", status_code=202, summary="Replace the deployment's model")
    async def replace_model(deployment_id: str, request: Request) -> Response:
        manager(service.registry, request)
        body = await json_object(request)
        model_id = replacement_request(body)
        reason = body.get("reason", "OTHER")
        if reason not in REPLACEMENT_REASONS:
            raise BadRequest(f"reason must be one of {', '.join(REPLACEMENT_REASONS)}.")
        outcome = registry.replace_model(deployment_id, model_id)
        if not outcome.accepted:
            raise Rejected(f"Model {model_id} cannot replace the current model: {outcome.reason}.")
        location = status_location(request, deployment_id)
        return app_json({"id": deployment_id, "modelId": model_id}, 202, {"Location": location})

    @app.get(f"{BASE}/{{deployment_id}}/asyncStatus/", summary="A creation or replacement's status (done: 303)")
    async def replacement_status(deployment_id: str, request: Request) -> Response:
        manager(service.registry, request)
        registry.get_deployment(deployment_id)  # 404 for an unknown id
        location = f"{public_base(settings, request)}{BASE}/{deployment_id}/"
        return Response(status_code=303, headers={"Location": location})

    @app.post(f"{BASE}/{{deployment_id}}/model/validation/", summary="Check a replacement without making it")
    async def validate_replacement(deployment_id: str, request: Request) -> dict[str, Any]:
        manager(service.registry, request)
        model_id = replacement_request(await json_object(request))
        outcome = registry.validate_replacement(deployment_id, model_id)
        status = "passing" if outcome.accepted else "failing"
        return {
            "status": status,
            "message": outcome.reason,
            "checks": {"compatibility": {"status": status, "message": outcome.reason}},
        }

    @app.get(f"{BASE}/{{deployment_id}}/features/", summary="The deployed model's features")
    async def features(deployment_id: str, request: Request) -> dict[str, Any]:
        manager(service.registry, request)
        meta = registry.metadata(registry.get_deployment(deployment_id).model_id)
        ts = meta.raw.get("timeSeries") or {}
        items = [
            {
                "name": f.name,
                "featureType": "Numeric" if f.type == "numeric" else "Categorical",
                "importance": None,
                "dateFormat": None,
                "knownInAdvance": f.name in (ts.get("knownInAdvance") or []),
            }
            for f in meta.features
        ]
        return paginate(settings, request, items)

    # ``/settings/`` is one resource with two owners: the management settings here, the association
    # ID in monitoring. The monitoring routes serve the path and hand these the other keys.
    def get_settings(deployment_id: str, request: Request) -> dict[str, Any]:
        manager(service.registry, request)
        return settings_json(registry.get_deployment(deployment_id).settings)

    def update_settings(deployment_id: str, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        manager(service.registry, request)
        return settings_json(registry.update_settings(deployment_id, body))

    app.state.deployment_settings = (get_settings, update_settings)

    return registry


def app_json(payload: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    import orjson

    return Response(orjson.dumps(payload), status, headers=headers, media_type="application/json")
