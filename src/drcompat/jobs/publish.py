"""Publishing a job's candidate model as a new version, and promoting it on a deployment.

A candidate is loaded exactly as the service would load it before anything is written. Promotion
checks that it can replace the current model (same target type, target and classes; no feature
the current model's callers might not send; holdout metric not worse beyond a tolerance), then
switches the deployment with one atomic write of ``deployments.yaml``: requests in flight finish
on the model they started with, later ones get the new one, and the previous version is kept
(``previousModelIds``) for rollback. A rejected candidate leaves the deployment untouched.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from drcompat.codecs.csv_codec import decode_csv
from drcompat.errors import ApiError, BadRequest, NotFound
from drcompat.features import feature_columns, text_columns
from drcompat.models import ModelMetadata, ModelStore, OnnxModel
from drcompat.models.metadata import MetadataError
from drcompat.registry import update_registry
from drcompat.storage import Storage
from drcompat.yamlio import load_yaml

HIGHER_IS_BETTER = {"accuracy": True, "r2": True, "auc": True, "rmse": False, "mae": False, "logloss": False}
KEEP_PREVIOUS = 10


class PublishError(BadRequest):
    """The candidate cannot become a model version; the message says why."""


@dataclass(frozen=True)
class Decision:
    accepted: bool
    reason: str
    candidate_model_id: str
    previous_model_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "reason": self.reason,
            "candidateModelId": self.candidate_model_id,
            "previousModelId": self.previous_model_id,
        }


def new_object_id() -> str:
    """A 24-hex id shaped like a MongoDB ObjectId (seconds, then random), as DataRobot's ids are."""
    return f"{int(time.time()):08x}{secrets.token_hex(8)}"


def publish_candidate(storage: Storage, folder: Path) -> ModelMetadata:
    """Check the candidate in ``folder`` (model.onnx, model.yaml, background.csv) and store it
    under a new model id."""
    try:
        onnx_bytes = (folder / "model.onnx").read_bytes()
        document = load_yaml((folder / "model.yaml").read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PublishError("The job left no readable candidate (model.onnx and model.yaml).") from exc
    if not isinstance(document, dict):
        raise PublishError("The candidate's model.yaml must be a mapping.")
    model_id = new_object_id()
    document = {**document, "modelId": model_id, "sha256": hashlib.sha256(onnx_bytes).hexdigest()}
    try:
        metadata = ModelMetadata.from_dict(document)
        model = OnnxModel(metadata, onnx_bytes)
        background = folder / "background.csv"
        if background.is_file():
            frame = decode_csv(background.read_bytes(), "utf-8", text_columns(metadata))
            model.attach_background(feature_columns(frame, metadata))
    except (MetadataError, ApiError) as exc:
        raise PublishError(f"The candidate model is not usable: {getattr(exc, 'message', exc)}") from exc
    except Exception as exc:  # onnxruntime's own errors for a broken graph
        raise PublishError("The candidate model.onnx cannot be loaded by onnxruntime.") from exc
    storage.write(f"models/{model_id}/model.onnx", onnx_bytes)
    if (folder / "background.csv").is_file():
        storage.write(f"models/{model_id}/background.csv", (folder / "background.csv").read_bytes())
    storage.write(f"models/{model_id}/model.yaml", yaml.safe_dump(document, sort_keys=False).encode())
    return metadata


def compare(current: ModelMetadata, candidate: ModelMetadata, tolerance: float) -> str | None:
    """Why the candidate may not replace the current model, or None when it may."""
    if candidate.target_type is not current.target_type:
        return f"target type {candidate.target_type.value} differs from the current {current.target_type.value}"
    if candidate.target_name != current.target_name:
        return f"target {candidate.target_name!r} differs from the current {current.target_name!r}"
    if current.is_classification and set(map(str, candidate.class_labels)) != set(map(str, current.class_labels)):
        return "class labels differ from the current model's"
    current_types = {f.name: f.type for f in current.features}
    extra = [f.name for f in candidate.features if f.name not in current_types]
    if extra:
        return f"features not sent to the current model: {', '.join(extra)}"
    changed = [f.name for f in candidate.features if current_types[f.name] != f.type]
    if changed:
        return f"features whose type changed: {', '.join(changed)}"
    old, new = current.raw.get("holdout") or {}, candidate.raw.get("holdout") or {}
    if not new:
        return "the candidate has no holdout metric"
    if old:
        metric = str(new.get("metric"))
        if metric != str(old.get("metric")) or metric not in HIGHER_IS_BETTER:
            return f"holdout metrics are not comparable ({old.get('metric')} vs {metric})"
        gain = float(new["value"]) - float(old["value"])
        if not HIGHER_IS_BETTER[metric]:
            gain = -gain
        if gain < -tolerance:
            return (
                f"holdout {metric} {float(new['value']):.4f} is worse than the current "
                f"{float(old['value']):.4f} by more than the tolerance {tolerance}"
            )
    return None


def _entry(document: dict[str, Any], deployment_id: str) -> dict[str, Any]:
    entry = (document.get("deployments") or {}).get(deployment_id)
    if entry is None:
        raise NotFound(f"Deployment {deployment_id} was not found.")
    return dict(entry) if not isinstance(entry, dict) else entry


def promote(storage: Storage, deployment_id: str, candidate: ModelMetadata, tolerance: float = 0.0) -> Decision:
    """Switch the deployment to the candidate if it may replace the current model (compare-and-swap)."""

    def switch(document: dict[str, Any]) -> Decision:
        entry = _entry(document, deployment_id)
        current_id = str(entry["modelId"])
        reason = compare(ModelStore(storage).metadata(current_id), candidate, tolerance)
        if reason is not None:
            return Decision(False, f"rejected: {reason}", candidate.model_id, current_id)
        entry["previousModelIds"] = [current_id, *entry.get("previousModelIds", [])][:KEEP_PREVIOUS]
        entry["modelId"] = candidate.model_id
        return Decision(True, "promoted: compatible and not worse on the holdout", candidate.model_id, current_id)

    return update_registry(storage, switch)


def rollback(storage: Storage, deployment_id: str) -> str:
    """Put the previous model version back, after loading it as the service would; returns its id."""
    store = ModelStore(storage)
    loadable: set[str] = set()  # ``back`` runs again after a conflict: load each target once

    def back(document: dict[str, Any]) -> str:
        entry = _entry(document, deployment_id)
        previous = list(entry.get("previousModelIds") or [])
        if not previous:
            raise BadRequest(f"Deployment {deployment_id} has no previous model version to roll back to.")
        target = str(previous[0])
        if target not in loadable:
            try:
                store.load(target)
            except ApiError as exc:
                raise BadRequest(f"Cannot roll back: {exc.message}") from exc
            except Exception as exc:
                raise BadRequest(f"Cannot roll back: model {target} cannot be loaded.") from exc
            loadable.add(target)
        entry["modelId"], entry["previousModelIds"] = target, previous[1:]
        return target

    return update_registry(storage, back)
