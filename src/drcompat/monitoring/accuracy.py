"""The accuracy metrics DataRobot reports per target type, computed from predictions and actuals."""

from __future__ import annotations

import math

import numpy as np

from drcompat.models.metadata import TargetType

BINARY = (
    "AUC",
    "Accuracy",
    "Balanced Accuracy",
    "LogLoss",
    "F1",
    "TPR",
    "PPV",
    "MCC",
    "Kolmogorov-Smirnov",
    "Gini Norm",
    "Rate@Top10%",
    "Rate@Top5%",
)
REGRESSION = ("RMSE", "MAE", "MAPE", "R Squared", "RMSLE", "Gamma Deviance", "Poisson Deviance")
MULTICLASS = ("LogLoss", "Accuracy", "Balanced Accuracy")
DEFAULT = {TargetType.BINARY: "LogLoss", TargetType.REGRESSION: "RMSE", TargetType.MULTICLASS: "LogLoss"}
EPS = 1e-15


def metric_names(target_type: TargetType) -> tuple[str, ...]:
    return {TargetType.BINARY: BINARY, TargetType.REGRESSION: REGRESSION, TargetType.MULTICLASS: MULTICLASS}[
        target_type
    ]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def auc(truth: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve by ranks (ties averaged)."""
    positives, negatives = int(truth.sum()), int(len(truth) - truth.sum())
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[truth == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def binary_metrics(truth: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, float | None]:
    """``truth`` 1 for the positive class; ``probability`` of the positive class."""
    p = np.clip(probability, EPS, 1 - EPS)
    predicted = probability >= threshold
    actual = truth == 1
    tp = float(np.sum(predicted & actual))
    tn = float(np.sum(~predicted & ~actual))
    fp = float(np.sum(predicted & ~actual))
    fn = float(np.sum(~predicted & actual))
    tpr = tp / (tp + fn) if tp + fn else math.nan
    tnr = tn / (tn + fp) if tn + fp else math.nan
    ppv = tp / (tp + fp) if tp + fp else math.nan
    denominator = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    area = auc(truth, probability)
    out: dict[str, float | None] = {
        "AUC": area,
        "Accuracy": (tp + tn) / len(truth),
        "Balanced Accuracy": _finite((tpr + tnr) / 2),
        "LogLoss": float(-np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p))),
        "F1": _finite(2 * ppv * tpr / (ppv + tpr)) if ppv + tpr else None,
        "TPR": _finite(tpr),
        "PPV": _finite(ppv),
        "MCC": (tp * tn - fp * fn) / denominator if denominator else None,
        "Gini Norm": None if area is None else 2 * area - 1,
    }
    if actual.any() and (~actual).any():
        thresholds = np.unique(probability)
        tpr_at = np.array([np.mean(probability[actual] >= t) for t in thresholds])
        fpr_at = np.array([np.mean(probability[~actual] >= t) for t in thresholds])
        out["Kolmogorov-Smirnov"] = float(np.max(tpr_at - fpr_at))
    else:
        out["Kolmogorov-Smirnov"] = None
    order = np.argsort(-probability, kind="mergesort")
    for name, share in (("Rate@Top10%", 0.10), ("Rate@Top5%", 0.05)):
        top = max(1, math.ceil(share * len(truth)))
        out[name] = float(np.mean(truth[order[:top]]))
    return out


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    error = predicted - truth
    total = float(np.sum((truth - truth.mean()) ** 2))
    out: dict[str, float | None] = {
        "RMSE": float(np.sqrt(np.mean(error**2))),
        "MAE": float(np.mean(np.abs(error))),
        "MAPE": float(100 * np.mean(np.abs(error / truth))) if np.all(truth != 0) else None,
        "R Squared": 1 - float(np.sum(error**2)) / total if total else None,
        "RMSLE": None,
        "Gamma Deviance": None,
        "Poisson Deviance": None,
    }
    if np.all(truth > -1) and np.all(predicted > -1):
        out["RMSLE"] = float(np.sqrt(np.mean((np.log1p(predicted) - np.log1p(truth)) ** 2)))
    if np.all(truth > 0) and np.all(predicted > 0):
        ratio = truth / predicted
        out["Gamma Deviance"] = float(2 * np.mean(-np.log(ratio) + ratio - 1))
    if np.all(truth >= 0) and np.all(predicted > 0):
        term = np.where(truth > 0, truth * np.log(np.where(truth > 0, truth, 1) / predicted), 0.0)
        out["Poisson Deviance"] = float(2 * np.mean(term - (truth - predicted)))
    return out


def multiclass_metrics(truth: np.ndarray, probabilities: np.ndarray) -> dict[str, float | None]:
    """``truth``: class index per row (-1 for a label the model does not know)."""
    known = truth >= 0
    predicted = np.argmax(probabilities, axis=1)
    picked = np.where(known, probabilities[np.arange(len(truth)), np.maximum(truth, 0)], 0.0)
    recalls = [np.mean(predicted[truth == k] == k) for k in np.unique(truth[known])]
    return {
        "LogLoss": float(-np.mean(np.log(np.clip(picked, EPS, 1.0)))),
        "Accuracy": float(np.mean(predicted == truth)),
        "Balanced Accuracy": float(np.mean(recalls)) if recalls else None,
    }
