"""Add ``monitoringBaseline`` to the demo models' ``model.yaml``: what drift is measured against.

From each model's training split (rebuilt exactly as ``build_demo_models.py`` splits it): per
feature a decile histogram (categorical: counts per value), the histogram of the model's own
predictions on that data, and permutation feature impact (normalised so the largest is 1), as
DataRobot shows next to drift. Dev only (needs scikit-learn): ``python scripts/monitoring_baselines.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

import drcompat.models  # noqa: F401  (import order: models before features)
from build_demo_models import ROOT, SEED, diabetes_frame
from drcompat.features import feature_columns
from drcompat.models.metadata import ModelMetadata
from drcompat.models.onnx_model import OnnxModel
from drcompat.monitoring.baseline import PROBABILITY_EDGES, Bins, prediction_values


def training_split(model_id: str) -> pd.DataFrame:
    if model_id.endswith("3"):
        data = load_iris(as_frame=True)
        frame = data.frame.iloc[:, :4].astype(np.float32)
        frame.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
        y = np.asarray(data.target_names)[data.target]
        return train_test_split(frame, y, test_size=0.3, random_state=SEED, stratify=y)[0]
    frame = diabetes_frame()
    order = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    columns = order if model_id.endswith("1") else [c for c in order if c != "sex"]
    return train_test_split(frame[columns], frame["progression"], test_size=0.25, random_state=SEED)[0]


def histogram(values: np.ndarray, categorical: bool) -> dict[str, Any]:
    if categorical:
        labels = sorted({str(v) for v in values})
        counts = Bins("x", labels=tuple(labels)).count(values)
        return {"values": labels, "counts": [int(c) for c in counts[:-1]], "missing": int(counts[-1])}
    numbers = values.astype(np.float64)
    edges = sorted({round(float(q), 6) for q in np.nanquantile(numbers, np.linspace(0.1, 0.9, 9))})
    counts = Bins("x", edges=tuple(edges)).count(numbers)
    return {"edges": edges, "counts": [int(c) for c in counts[:-1]], "missing": int(counts[-1])}


def score(model: OnnxModel, columns: dict[str, np.ndarray]) -> np.ndarray:
    meta = model.metadata
    scores = model.predict(columns)
    labels = None if scores.probabilities is None else np.argmax(scores.probabilities, axis=1)
    return prediction_values(meta, scores.values, scores.probabilities, labels)


def loss(meta: ModelMetadata, predicted: np.ndarray, reference: np.ndarray) -> float:
    if predicted.dtype.kind in "OU":
        return float(np.mean(predicted != reference))
    return float(np.mean((predicted - reference) ** 2))


def baseline(model_id: str, root: Path = ROOT) -> dict[str, Any]:
    folder = root / "models" / model_id
    meta = ModelMetadata.from_dict(yaml.safe_load((folder / "model.yaml").read_text()))
    model = OnnxModel(meta, (folder / "model.onnx").read_bytes())
    frame = training_split(model_id)
    columns = feature_columns(frame, meta)
    predicted = score(model, columns)
    features = {f.name: histogram(columns[f.name], f.type == "categorical") for f in meta.features}
    if meta.is_classification and meta.target_type.value == "Multiclass":
        predictions = histogram(predicted, True)
    elif meta.is_classification:
        counts = Bins("p", edges=PROBABILITY_EDGES).count(predicted)
        predictions = {"edges": list(PROBABILITY_EDGES), "counts": [int(c) for c in counts[:-1]], "missing": 0}
    else:
        predictions = histogram(predicted, False)
    rng = np.random.default_rng(SEED)
    impact = {}
    for feature in meta.features:  # permutation impact: how much worse predictions get without it
        shuffled = dict(columns, **{feature.name: rng.permutation(columns[feature.name])})
        impact[feature.name] = loss(meta, score(model, shuffled), predicted)
    top = max(impact.values()) or 1.0
    return {
        "rows": len(frame),
        "features": features,
        "predictions": predictions,
        "featureImpact": {k: round(v / top, 6) for k, v in impact.items()},
    }


def add_baselines(root: Path = ROOT) -> None:
    """Add the baseline to each tabular demo model under ``root`` (``build_demo_models.py`` calls it)."""
    for model_id in ("65f1b0000000000000000001", "65f1b0000000000000000002", "65f1b0000000000000000003"):
        path = root / "models" / model_id / "model.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["monitoringBaseline"] = baseline(model_id, root)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        print(f"{model_id}: baseline from {doc['monitoringBaseline']['rows']} training rows")


def main() -> None:
    add_baselines()


if __name__ == "__main__":
    main()
