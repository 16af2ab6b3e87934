"""The warm model cache: what DataRobot's per-process LRU cache is in a Lambda container.

Bounded by model count and by bytes; the least recently *used* model goes first. Loading happens
outside the lock so a slow load never blocks requests for models that are already warm.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from drcompat.models.onnx_model import OnnxModel


class ModelCache:
    def __init__(self, max_models: int = 16, max_bytes: int = 1 << 30) -> None:
        self.max_models = max(1, max_models)
        self.max_bytes = max_bytes
        self._models: OrderedDict[str, OnnxModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, model_id: str, load: Callable[[], OnnxModel]) -> tuple[OnnxModel, bool]:
        """The model and whether it was already in memory (the Model-Cache-Hit header)."""
        with self._lock:
            model = self._models.get(model_id)
            if model is not None:
                self._models.move_to_end(model_id)
                return model, True
            gate = self._loading.setdefault(model_id, threading.Lock())
        with gate:  # one load per model id, even under concurrent first requests
            with self._lock:
                model = self._models.get(model_id)
                if model is not None:
                    self._models.move_to_end(model_id)
                    return model, True
            model = load()
            with self._lock:
                self._models[model_id] = model
                self._evict()
                self._loading.pop(model_id, None)
            return model, False

    def _evict(self) -> None:
        total = sum(m.size_bytes for m in self._models.values())
        while len(self._models) > 1 and (len(self._models) > self.max_models or total > self.max_bytes):
            _, evicted = self._models.popitem(last=False)
            total -= evicted.size_bytes

    def ids(self) -> list[str]:
        """Model ids from least to most recently used."""
        with self._lock:
            return list(self._models)
