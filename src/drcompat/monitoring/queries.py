"""Answers to monitoring questions over a period: service health, drift and accuracy.

Plain dicts in DataRobot's field names come out of here; the API layer wraps them as responses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from drcompat.models.metadata import ModelMetadata, TargetType
from drcompat.monitoring import accuracy as acc
from drcompat.monitoring.baseline import model_baseline
from drcompat.monitoring.capture import latency_quantile
from drcompat.monitoring.drift import METRICS, drift_score
from drcompat.monitoring.period import Period, buckets
from drcompat.monitoring.store import merge, read_rows
from drcompat.storage import Storage

HOLDOUT_NAMES = {"accuracy": "Accuracy", "rmse": "RMSE", "r2": "R Squared", "logloss": "LogLoss", "auc": "AUC"}


def _in(row: dict[str, Any], period: Period) -> bool:
    hour = datetime.fromisoformat(row["hour"])
    return period.start - timedelta(hours=1) < hour < period.end


def aggregate_rows(storage: Storage, deployment_id: str, period: Period) -> list[dict[str, Any]]:
    return [r for r in read_rows(storage, deployment_id, "aggregates", period.start, period.end) if _in(r, period)]


def merged(rows: Iterable[dict[str, Any]], model_id: str | None = None) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for row in rows:
        if model_id is None or row.get("modelId") == model_id:
            merge(total, row)
    return total


def service_metrics(
    row: dict[str, Any], execution_quantile: float = 0.5, response_quantile: float = 0.5
) -> dict[str, Any]:
    requests = int(row.get("requests", 0))
    known = int(row.get("cacheKnown", 0))
    return {
        "totalPredictions": int(row.get("predictions", 0)),
        "totalRequests": requests,
        "slowRequests": int(row.get("slowRequests", 0)),
        "executionTime": latency_quantile(row.get("executionHist") or [], execution_quantile),
        "responseTime": latency_quantile(row.get("responseHist") or [], response_quantile),
        "userErrorRate": row.get("userErrors", 0) / requests if requests else 0.0,
        "serverErrorRate": row.get("serverErrors", 0) / requests if requests else 0.0,
        "numConsumers": len(row.get("consumers") or []),
        "cacheHitRatio": row.get("cacheHits", 0) / known if known else 0.0,
    }


def in_bucket(row: dict[str, Any], bucket: Period, first: bool) -> bool:
    hour = datetime.fromisoformat(row["hour"])
    return (bucket.start <= hour or (first and hour > bucket.start - timedelta(hours=1))) and hour < bucket.end


def over_time(
    rows: list[dict[str, Any]], period: Period, size: timedelta, model_id: str | None = None
) -> list[tuple[Period, dict[str, Any]]]:
    out = []
    for index, bucket in enumerate(buckets(period, size)):
        out.append((bucket, merged((r for r in rows if in_bucket(r, bucket, index == 0)), model_id)))
    return out


@dataclass(frozen=True)
class DriftResult:
    name: str
    score: float | None
    sample_size: int
    baseline_sample_size: int | None
    impact: float | None


def feature_drift(row: dict[str, Any], metadata: ModelMetadata, metric: str = "psi") -> list[DriftResult]:
    baseline = model_baseline(metadata)
    counts = row.get("features") or {}
    out = []
    for bins in baseline.features:
        seen = counts.get(bins.name) or [0] * bins.size
        score = drift_score(seen, bins.baseline, metric) if bins.baseline else None
        impact = baseline.feature_impact.get(bins.name)
        out.append(DriftResult(bins.name, score, int(sum(seen)), bins.baseline_rows, impact))
    return sorted(out, key=lambda d: -(d.impact or 0.0))


def target_drift(row: dict[str, Any], metadata: ModelMetadata, metric: str = "psi") -> DriftResult:
    bins = model_baseline(metadata).prediction
    seen = row.get("predictionHist") or [0] * bins.size
    score = drift_score(seen, bins.baseline, metric) if bins.baseline else None
    return DriftResult(metadata.target_name, score, int(sum(seen)), bins.baseline_rows, None)


def check_metric(metric: str | None) -> str:
    return metric or "psi"


# --- accuracy -----------------------------------------------------------------------------
def matched(storage: Storage, deployment_id: str, period: Period, now: datetime | None = None) -> list[dict[str, Any]]:
    """Predictions made in the period (by association id) with their latest actual value.

    Actuals are read from the period's start to now: they arrive after their predictions.
    """
    now = now or datetime.now(UTC)
    predictions: dict[str, dict[str, Any]] = {}
    start, end = period.start.timestamp(), period.end.timestamp()
    for row in read_rows(storage, deployment_id, "associations", period.start, period.end):
        if start <= row["t"] < end:
            predictions[row["id"]] = row
    if not predictions:
        return []
    actuals: dict[str, dict[str, Any]] = {}
    for row in read_rows(storage, deployment_id, "actuals", period.start, max(now, period.end) + timedelta(hours=1)):
        if row["id"] in predictions and (row["id"] not in actuals or row["t"] >= actuals[row["id"]]["t"]):
            actuals[row["id"]] = row
    return [dict(predictions[k], actual=v["v"]) for k, v in actuals.items()]


def accuracy_metrics(
    pairs: list[dict[str, Any]], metadata: ModelMetadata, threshold: float | None
) -> tuple[dict[str, float | None], int]:
    """DataRobot's metrics for the target type over matched (prediction, actual) pairs."""
    names = acc.metric_names(metadata.target_type)
    labels = [str(c) for c in metadata.class_labels]
    if metadata.target_type is TargetType.REGRESSION:
        good = [(float(p["p"]), float(p["actual"])) for p in pairs if _number(p["actual"]) is not None]
        if not good:
            return dict.fromkeys(names), 0
        predicted, truth = (np.array(x) for x in zip(*good, strict=True))
        return acc.regression_metrics(truth, predicted), len(good)
    if metadata.target_type is TargetType.BINARY:
        positive = _label(metadata.positive_class)
        keep = [
            (float(p["p"]), 1.0 if _label(p["actual"]) == positive else 0.0)
            for p in pairs
            if _label(p["actual"]) in labels
        ]
        if not keep:
            return dict.fromkeys(names), 0
        probability, truth = (np.array(x) for x in zip(*keep, strict=True))
        cut = metadata.prediction_threshold if threshold is None else threshold
        return acc.binary_metrics(truth, probability, cut), len(keep)
    rows = [p for p in pairs if "probs" in p]
    if not rows:
        return dict.fromkeys(names), 0
    truth = np.array([labels.index(_label(p["actual"])) if _label(p["actual"]) in labels else -1 for p in rows])
    return acc.multiclass_metrics(truth, np.array([p["probs"] for p in rows])), len(rows)


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return {"True": "1", "true": "1", "False": "0", "false": "0"}.get(text, text)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def holdout_baseline(metadata: ModelMetadata) -> dict[str, float]:
    """The model's holdout score (``holdout`` in model.yaml) as the accuracy baseline."""
    holdout = metadata.raw.get("holdout") or {}
    name = HOLDOUT_NAMES.get(str(holdout.get("metric", "")).lower())
    value = _number(holdout.get("value"))
    return {name: value} if name and value is not None else {}


__all__ = ["METRICS", "DriftResult", "accuracy_metrics", "feature_drift", "matched", "service_metrics"]
