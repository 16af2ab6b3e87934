"""Loads a model version (ONNX bytes + metadata) from storage, checking it before it serves."""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import yaml

from drcompat.codecs.tensors import csv_block, csv_columns
from drcompat.errors import ApiError, ModelError
from drcompat.models.metadata import MetadataError, ModelMetadata
from drcompat.models.onnx_model import OnnxModel
from drcompat.storage import Storage, StorageKeyError, StorageLimitError
from drcompat.yamlio import load_yaml

log = logging.getLogger(__name__)
BACKGROUND_FILE = "background.csv"


class ModelStore:
    def __init__(self, storage: Storage, intra_op_threads: int = 0, allow_spinning: bool = True) -> None:
        self.storage = storage
        self.intra_op_threads = intra_op_threads
        self.allow_spinning = allow_spinning

    def _read(self, model_id: str, name: str) -> bytes:
        """A model file; storage trouble becomes a safe ModelError (retryable when transient)."""
        try:
            return self.storage.read(f"models/{model_id}/{name}")
        except StorageKeyError:
            raise
        except StorageLimitError as exc:
            raise ModelError(
                f"Model {model_id} could not be loaded: {name} is larger than this process may hold."
            ) from exc
        except Exception as exc:  # network or permission trouble in a remote store
            log.warning("reading %s of model %s failed: %s", name, model_id, type(exc).__name__)
            raise ModelError(f"Model {model_id} could not be read from storage; retry later.", status=503) from exc

    def metadata(self, model_id: str) -> ModelMetadata:
        try:
            doc = load_yaml(self._read(model_id, "model.yaml"))
            metadata = ModelMetadata.from_dict(doc)
        except (StorageKeyError, yaml.YAMLError, MetadataError) as exc:
            raise ModelError(f"Model {model_id} could not be loaded: its metadata is missing or invalid.") from exc
        if metadata.model_id != model_id:
            raise ModelError(f"Model {model_id} could not be loaded: its metadata names another model.")
        return metadata

    def load(self, model_id: str) -> OnnxModel:
        metadata = self.metadata(model_id)
        try:
            payload = self._read(model_id, "model.onnx")
        except StorageKeyError as exc:
            raise ModelError(f"Model {model_id} could not be loaded: model.onnx is missing.") from exc
        if metadata.sha256 and hashlib.sha256(payload).hexdigest() != metadata.sha256:
            raise ModelError(f"Model {model_id} could not be loaded: model.onnx does not match its sha256.")
        try:
            model = OnnxModel(metadata, payload, self.intra_op_threads, self.allow_spinning)
        except MetadataError as exc:
            raise ModelError(f"Model {model_id} could not be loaded: {exc}.") from exc
        except Exception as exc:  # onnxruntime raises its own types for corrupt graphs
            raise ModelError(f"Model {model_id} could not be loaded: the ONNX graph is invalid.") from exc
        self._attach_background(model)
        if "timeSeries" in metadata.raw:
            from drcompat.timeseries import TimeSeriesSpec

            try:
                model.time_series = TimeSeriesSpec.from_metadata(metadata.raw["timeSeries"], metadata.target_name)
            except (KeyError, TypeError, ValueError) as exc:
                raise ModelError(f"Model {model_id} could not be loaded: its timeSeries section is invalid.") from exc
        return model

    def _attach_background(self, model: OnnxModel) -> None:
        """The explanation background (``background.csv``), coerced and scored once at load."""
        model_id = model.metadata.model_id
        try:
            data = self._read(model_id, BACKGROUND_FILE)
        except StorageKeyError:
            return  # explanations answer 400 for this model; predictions are unaffected
        try:
            model.attach_background(background_columns(data, model))
        except (ApiError, MetadataError) as exc:
            raise ModelError(f"Model {model_id} could not be loaded: {BACKGROUND_FILE} is invalid.") from exc


def background_columns(data: bytes, model: OnnxModel) -> dict[str, np.ndarray]:
    """The background's feature columns: a plain CSV is split without pandas, as a prediction body
    is (``codecs.tensors``, same values), so loading models at cold start does not import it."""
    if not model.all_numeric:
        columns = csv_columns(data, model.feature_kinds, None)
        if columns is not None:
            return columns
    else:
        block = csv_block(data, model.feature_names, None)
        if block is not None:
            return dict(zip(model.feature_names, np.ascontiguousarray(block.T), strict=True))
    from drcompat.codecs.csv_codec import decode_csv
    from drcompat.features import feature_columns, text_columns

    return feature_columns(decode_csv(data, "utf-8", text_columns(model.metadata)), model.metadata)
