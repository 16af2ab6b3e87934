"""Loads a model version (ONNX bytes + metadata) from storage, checking it before it serves."""

from __future__ import annotations

import hashlib

import yaml

from drcompat.errors import ModelError
from drcompat.models.metadata import MetadataError, ModelMetadata
from drcompat.models.onnx_model import OnnxModel
from drcompat.storage import Storage, StorageKeyError


class ModelStore:
    def __init__(self, storage: Storage, intra_op_threads: int = 0) -> None:
        self.storage = storage
        self.intra_op_threads = intra_op_threads

    def metadata(self, model_id: str) -> ModelMetadata:
        try:
            doc = yaml.safe_load(self.storage.read(f"models/{model_id}/model.yaml"))
            metadata = ModelMetadata.from_dict(doc)
        except (StorageKeyError, yaml.YAMLError, MetadataError) as exc:
            raise ModelError(f"Model {model_id} could not be loaded: its metadata is missing or invalid.") from exc
        if metadata.model_id != model_id:
            raise ModelError(f"Model {model_id} could not be loaded: its metadata names another model.")
        return metadata

    def load(self, model_id: str) -> OnnxModel:
        metadata = self.metadata(model_id)
        try:
            payload = self.storage.read(f"models/{model_id}/model.onnx")
        except StorageKeyError as exc:
            raise ModelError(f"Model {model_id} could not be loaded: model.onnx is missing.") from exc
        if metadata.sha256 and hashlib.sha256(payload).hexdigest() != metadata.sha256:
            raise ModelError(f"Model {model_id} could not be loaded: model.onnx does not match its sha256.")
        try:
            return OnnxModel(metadata, payload, self.intra_op_threads)
        except MetadataError as exc:
            raise ModelError(f"Model {model_id} could not be loaded: {exc}.") from exc
        except Exception as exc:  # onnxruntime raises its own types for corrupt graphs
            raise ModelError(f"Model {model_id} could not be loaded: the ONNX graph is invalid.") from exc
