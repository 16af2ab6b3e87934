"""``/api/v2/importedModels/``: bring your own model (an ONNX file, or a scikit-learn pipeline
with the optional extra) plus a sample of its training data; deploy it with its id."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from drcompat.api.management import manager, paginate
from drcompat.config import Settings
from drcompat.errors import BadRequest, PayloadTooLarge
from drcompat.models import ModelMetadata
from drcompat.predict import PredictionService
from drcompat.registry.importer import ImportSpec, coerce_labels
from drcompat.registry.service import RegistryService

BASE = "/api/v2/importedModels"
ONNX_SUFFIXES = (".onnx",)
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


class FeatureSchema(BaseModel):
    name: str
    feature_type: str = Field(serialization_alias="featureType")


class ImportedModelSchema(BaseModel):
    """A model version as the management API describes it (camelCase on the wire)."""

    id: str
    name: str
    description: str = ""
    target_type: str = Field(serialization_alias="targetType")
    target_name: str = Field(serialization_alias="targetName")
    class_labels: list[Any] = Field(default_factory=list, serialization_alias="classLabels")
    positive_class_label: Any = Field(default=None, serialization_alias="positiveClassLabel")
    prediction_threshold: float | None = Field(default=None, serialization_alias="predictionThreshold")
    features: list[FeatureSchema]
    sha256: str | None = None
    holdout: dict[str, Any] | None = None


def model_schema(meta: ModelMetadata) -> ImportedModelSchema:
    raw = meta.raw
    return ImportedModelSchema(
        id=meta.model_id,
        name=meta.name,
        description=str(raw.get("description") or ""),
        target_type=meta.target_type.value,
        target_name=meta.target_name,
        class_labels=list(meta.class_labels),
        positive_class_label=meta.positive_class if meta.target_type.value == "Binary" else None,
        prediction_threshold=meta.prediction_threshold if meta.target_type.value == "Binary" else None,
        features=[FeatureSchema(name=f.name, feature_type=f.type) for f in meta.features],
        sha256=meta.sha256,
        holdout=raw.get("holdout"),
    )


def model_json(meta: ModelMetadata) -> dict[str, Any]:
    return model_schema(meta).model_dump(by_alias=True)


def parse_labels(raw: str | None) -> tuple[Any, ...]:
    """classLabels as a JSON list or comma-separated text, in the probability columns' order."""
    if not raw:
        return ()
    text = raw.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise BadRequest("classLabels must be a JSON list or comma-separated labels.") from exc
        if not isinstance(values, list):
            raise BadRequest("classLabels must be a JSON list or comma-separated labels.")
        return coerce_labels(values)
    return coerce_labels(text.split(","))


def spec_from_form(form: dict[str, Any]) -> ImportSpec:
    threshold = form.get("predictionThreshold")
    try:
        threshold_value = float(threshold) if threshold not in (None, "") else None
    except ValueError as exc:
        raise BadRequest("predictionThreshold must be a number in [0, 1].") from exc
    if threshold_value is not None and not 0 <= threshold_value <= 1:
        raise BadRequest("predictionThreshold must be a number in [0, 1].")
    return ImportSpec(
        target_type=str(form.get("targetType") or ""),
        target_name=str(form.get("targetName") or ""),
        class_labels=parse_labels(form.get("classLabels")),
        positive_class_label=form.get("positiveClassLabel") or None,
        prediction_threshold=threshold_value,
        name=str(form.get("name") or ""),
        description=str(form.get("description") or ""),
    )


def add_model_routes(app: FastAPI, service: PredictionService, settings: Settings, registry: RegistryService) -> None:
    @app.post(
        f"{BASE}/",
        status_code=201,
        summary="Import a model: multipart 'model' (ONNX, or a scikit-learn pickle) and 'sample' (training CSV)",
    )
    async def import_model(request: Request) -> Response:
        manager(service.registry, request)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_import_bytes:
            raise PayloadTooLarge(f"The upload is larger than the limit of {settings.max_import_bytes} bytes.")
        if not (request.headers.get("content-type") or "").lower().startswith("multipart/form-data"):
            raise BadRequest("Send multipart/form-data with a 'model' file, a 'sample' CSV file and the target fields.")
        try:
            form = await request.form(max_files=2, max_fields=20)
        except Exception as exc:  # malformed multipart bodies
            raise BadRequest("The multipart body could not be parsed.") from exc
        try:
            files = {k: v for k, v in form.items() if isinstance(v, UploadFile)}
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            for needed in ("model", "sample"):
                if needed not in files:
                    raise BadRequest(f"The '{needed}' file part is missing.")
            if sum(f.size or 0 for f in files.values()) > settings.max_import_bytes:  # chunked uploads
                raise PayloadTooLarge(f"The upload is larger than the limit of {settings.max_import_bytes} bytes.")
            payload = await files["model"].read()
            sample = await files["sample"].read()
            filename = (files["model"].filename or "").lower()
            stem = (files["model"].filename or "").replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
            fields.setdefault("name", stem[:200])
        finally:
            await form.close()
        kind = fields.get("format") or ("sklearn" if filename.endswith(PICKLE_SUFFIXES) else "onnx")
        if kind == "sklearn":
            if not settings.allow_pickle_import:
                raise BadRequest(
                    "Importing a pickled scikit-learn pipeline over the API is off (loading a pickle runs its code): "
                    "convert it with the CLI (python -m drcompat.cli models import), or set DRC_ALLOW_PICKLE_IMPORT."
                )
            meta = await run_in_threadpool(import_sklearn, registry, payload, sample, fields)
        elif kind == "onnx":
            meta = await run_in_threadpool(registry.import_model, payload, sample, spec_from_form(fields))
        else:
            raise BadRequest("format must be onnx or sklearn.")
        headers = {"Location": f"{BASE}/{meta.model_id}/"}
        import orjson

        return Response(orjson.dumps(model_json(meta)), 201, headers=headers, media_type="application/json")

    @app.get(f"{BASE}/", summary="List imported model versions")
    async def list_models(request: Request) -> dict[str, Any]:
        manager(service.registry, request)
        return paginate(settings, request, [model_json(m) for m in registry.list_models()])

    @app.get(f"{BASE}/{{model_id}}/", summary="Get a model version", response_model=ImportedModelSchema)
    async def get_model(model_id: str, request: Request) -> ImportedModelSchema:
        manager(service.registry, request)
        return model_schema(registry.metadata(model_id))


def import_sklearn(registry: RegistryService, payload: bytes, sample: bytes, fields: dict[str, Any]) -> ModelMetadata:
    from drcompat.registry.sklearn_import import convert_pipeline

    given = spec_from_form({**fields, "targetType": fields.get("targetType") or "Regression"})
    onnx_bytes, spec = convert_pipeline(
        payload,
        sample,
        given.target_name,
        positive_class_label=given.positive_class_label,
        prediction_threshold=given.prediction_threshold,
        name=given.name,
        description=given.description,
    )
    return registry.import_model(onnx_bytes, sample, spec)
