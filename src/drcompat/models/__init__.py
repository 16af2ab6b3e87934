"""Models: metadata, the onnxruntime scorer, the store that loads them and the warm cache."""

from drcompat.models.cache import ModelCache
from drcompat.models.metadata import Feature, ModelMetadata, TargetType
from drcompat.models.onnx_model import OnnxModel, Scores
from drcompat.models.store import ModelStore

__all__ = ["Feature", "ModelCache", "ModelMetadata", "ModelStore", "OnnxModel", "Scores", "TargetType"]
