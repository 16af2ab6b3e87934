"""How a model's inputs and predictions are binned, and the training baseline for each bin.

Bins come from the model's ``model.yaml``: ``monitoringBaseline`` (histograms of the training data,
written by ``scripts/monitoring_baselines.py``) when present, else derived from ``trainingStats``
(numeric: ten bins between q01 and q99 with a normal approximation as baseline; categorical: the
training frequencies). Every bin layout ends with one bin for missing values.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from drcompat.models.metadata import ModelMetadata, TargetType

PROBABILITY_EDGES = tuple(round(0.1 * i, 1) for i in range(1, 10))
STR_ONLY = frozenset({str})
MISSING_CODE = -2
FEW_EDGES = 32  # up to this many edges, numeric bins are counted by comparison passes


@dataclass(frozen=True)
class Bins:
    """Numeric bins (``edges``: interior cut points) or categorical bins (``labels``, then "other")."""

    name: str
    edges: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()
    baseline: tuple[float, ...] = ()  # training counts (or frequencies) per bin, missing bin last
    baseline_rows: int | None = None

    @property
    def categorical(self) -> bool:
        return bool(self.labels)

    @property
    def size(self) -> int:
        return (len(self.labels) + 1 if self.labels else len(self.edges) + 1) + 1

    def count(self, values: np.ndarray) -> np.ndarray:
        """Counts per bin (missing last), vectorised over a whole batch."""
        values = np.asarray(values).reshape(-1)
        if self.labels:
            missing, codes = self._label_codes(values)
            index = np.where(codes < 0, len(self.labels), codes)
            index[missing] = self.size - 1
            return np.bincount(index, minlength=self.size)
        numbers = np.asarray(values, dtype=np.float64) if values.dtype.kind in "fiub" else _as_float(values)
        if len(self.edges) > FEW_EDGES:
            index = np.searchsorted(np.asarray(self.edges), numbers, side="right")
            index[np.isnan(numbers)] = self.size - 1
            return np.bincount(index, minlength=self.size)
        # A few edges: one comparison pass per edge counts the cells below it (about 20x faster
        # than searchsorted's binary search per cell, which runs in the background flush while
        # the next requests score). A cell equal to an edge falls above it (side="right"); NaN is
        # below no edge, so it is taken out of the last bin and counted as missing.
        below = [int(np.count_nonzero(numbers < edge)) for edge in self.edges]
        nan = int(np.count_nonzero(np.isnan(numbers)))
        return np.diff(np.array([0, *below, len(numbers) - nan, len(numbers)], dtype=np.int64))

    @cached_property
    def _lookup(self) -> dict[str, int]:
        """Each label's bin (a label repeated after ``str()``, as 1 and "1" are, keeps its last)."""
        return {label: k for k, label in enumerate(self.labels)}

    def _label_codes(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Missing cells, and each cell's label index (-1: not a label). Text columns (what the
        prediction path captures) are coded by a dict lookup in C, so a flush needs no pandas."""
        if values.dtype == object:
            cells = values.tolist()
            # Python strings as sent: a cell is missing ("") or a label's index, else -1. Only the
            # cells that are no label are checked for being plain strings (None or NaN must count
            # as missing; numpy's strings below drop trailing NULs): label cells are strings.
            codes = _looked_up({**self._lookup, "": MISSING_CODE}, cells)  # (None: an unhashable cell)
            if codes is not None:
                others = [cells[i] for i in np.flatnonzero(codes == -1).tolist()]
                if STR_ONLY.issuperset(map(type, others)) and "\x00" not in "".join(others):
                    missing = codes == MISSING_CODE
                    codes[missing] = self._lookup.get("", -1)
                    return missing, codes
        # Anything else: each cell's text as numpy spells it, looked up the same way (pandas'
        # Categorical refused repeated labels); cells that are not strings (None, NaN) are missing.
        text = values.astype(str)
        codes = _looked_up(self._lookup, text.tolist())
        assert codes is not None  # (str cells are hashable)
        if values.dtype.kind == "U" or (values.dtype == object and all(type(v) is str for v in values.tolist())):
            return text == "", codes
        import pandas as pd

        return np.asarray(pd.isna(values)) | (values == ""), codes


def _looked_up(lookup: dict[str, int], cells: list[Any]) -> np.ndarray | None:
    try:
        return np.fromiter(map(lookup.get, cells, itertools.repeat(-1)), dtype=np.int64, count=len(cells))
    except TypeError:
        return None


def _as_float(values: np.ndarray) -> np.ndarray:
    import pandas as pd  # object columns only (the prediction path captures numbers as floats)

    return np.asarray(pd.to_numeric(pd.Series(values, dtype=object), errors="coerce"), dtype=np.float64)


def _normal_baseline(edges: tuple[float, ...], stats: dict[str, Any]) -> tuple[float, ...]:
    mean, std = float(stats.get("mean", 0.0)), float(stats.get("std") or 0.0) or 1.0
    cdf = [0.5 * (1 + math.erf((e - mean) / (std * math.sqrt(2)))) for e in edges]
    points = [0.0, *cdf, 1.0]
    return (*(max(b - a, 0.0) for a, b in itertools.pairwise(points)), 0.0)


def _from_stats(name: str, stats: dict[str, Any]) -> Bins | None:
    if isinstance(stats.get("values"), dict):
        labels = tuple(str(k) for k in stats["values"])
        freqs = tuple(float(v) for v in stats["values"].values())
        return Bins(name, labels=labels, baseline=(*freqs, max(0.0, 1.0 - sum(freqs)), 0.0))
    if "q01" in stats and "q99" in stats and stats["q99"] > stats["q01"]:
        low, high = float(stats["q01"]), float(stats["q99"])
        edges = tuple(float(x) for x in np.linspace(low, high, 9))
        return Bins(name, edges=edges, baseline=_normal_baseline(edges, stats))
    return None


def _from_histogram(name: str, entry: dict[str, Any], rows: int | None) -> Bins:
    counts = (*tuple(float(c) for c in entry["counts"]), float(entry.get("missing", 0)))
    if "values" in entry:
        return Bins(name, labels=tuple(str(v) for v in entry["values"]), baseline=counts, baseline_rows=rows)
    return Bins(name, edges=tuple(float(e) for e in entry["edges"]), baseline=counts, baseline_rows=rows)


@dataclass(frozen=True)
class ModelBaseline:
    features: tuple[Bins, ...]
    prediction: Bins
    feature_impact: dict[str, float]


def prediction_values(metadata: ModelMetadata, values: Any, probabilities: Any, label_index: Any) -> np.ndarray:
    """The one number (or class) per row that target drift and accuracy look at."""
    if metadata.target_type is TargetType.REGRESSION:
        return np.asarray(values, dtype=np.float64).reshape(-1)
    if metadata.target_type is TargetType.BINARY:
        positive = metadata.class_labels.index(metadata.positive_class)
        return np.asarray(probabilities)[:, positive].astype(np.float64)
    labels = np.asarray([str(c) for c in metadata.class_labels], dtype=object)
    return labels[np.asarray(label_index)]


def _build(metadata: ModelMetadata) -> ModelBaseline:
    raw = metadata.raw.get("monitoringBaseline") or {}
    rows = raw.get("rows")
    hist = raw.get("features") or {}
    features = []
    for feature in metadata.features:
        if feature.name in hist:
            features.append(_from_histogram(feature.name, hist[feature.name], rows))
            continue
        bins = _from_stats(feature.name, metadata.training_stats.get(feature.name) or {})
        features.append(bins or Bins(feature.name, edges=()))
    pred_raw = raw.get("predictions")
    if pred_raw:
        prediction = _from_histogram("prediction", pred_raw, rows)
    elif metadata.target_type is TargetType.MULTICLASS:
        prediction = Bins("prediction", labels=tuple(str(c) for c in metadata.class_labels))
    elif metadata.target_type is TargetType.BINARY:
        prediction = Bins("prediction", edges=PROBABILITY_EDGES)
    else:
        stats = metadata.training_stats.get(metadata.target_name) or {}
        prediction = _from_stats("prediction", stats) or Bins("prediction", edges=())
    impact = {str(k): float(v) for k, v in (raw.get("featureImpact") or {}).items()}
    return ModelBaseline(tuple(features), prediction, impact)


def model_baseline(metadata: ModelMetadata) -> ModelBaseline:
    """Bins and baseline for a model (computed once per model and process)."""
    key = (metadata.model_id, metadata.sha256)
    found = _CACHE.get(key)
    if found is None:
        if len(_CACHE) >= 64:
            _CACHE.clear()
        found = _CACHE[key] = _build(metadata)
    return found


_CACHE: dict[tuple[str, str | None], ModelBaseline] = {}
