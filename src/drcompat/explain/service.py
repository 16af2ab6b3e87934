"""Explanations for a scored batch: which rows, which output, the Shapley estimate, top features.

What is explained (the space the strengths add up in):

* Binary: the positive class's probability; labels are the positive class.
* Regression: the prediction itself; labels are the target name.
* Multiclass: the probability of each row's *predicted* class; labels are that class (the class
  the row is reported as, so the explanation answers "why this class").

Strengths add up to ``explained output - base value`` where the base value is the mean of the
same output over the model's background sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from drcompat.errors import BadRequest, PayloadTooLarge
from drcompat.explain import shapley
from drcompat.models import OnnxModel, Scores, TargetType
from drcompat.params import ExplanationParams
from drcompat.result import PredictionResult

if TYPE_CHECKING:
    import pandas as pd

QUALITATIVE = np.array(["---", "--", "-", "+", "++", "+++"], dtype=object)


@dataclass
class Explanations:
    """Top explanations per row, columnar, for the response encoders."""

    feature_names: list[str]
    order: np.ndarray  # (rows, k) feature index, strongest first
    strengths: np.ndarray  # (rows, k)
    qualitative_codes: np.ndarray  # (rows, k) index into QUALITATIVE
    explained: np.ndarray  # (rows,) bool: rows outside the thresholds get an empty list
    labels: np.ndarray  # (rows,) label per row, its original type
    values: pd.DataFrame  # the rows' own feature values, as sent
    method: str
    base: np.ndarray  # (rows,) base value of the explained output

    @property
    def qualitative(self) -> np.ndarray:
        return QUALITATIVE[self.qualitative_codes]


def explained_output(model: OnnxModel, scores: Scores, classes: np.ndarray | None) -> np.ndarray:
    """The one number per row that is explained (see the module docstring)."""
    meta = model.metadata
    if meta.target_type is TargetType.REGRESSION:
        assert scores.values is not None
        return scores.values.astype(np.float64)
    assert scores.probabilities is not None
    if meta.target_type is TargetType.BINARY:
        return scores.probabilities[:, meta.class_labels.index(meta.positive_class)].astype(np.float64)
    assert classes is not None
    return scores.probabilities[np.arange(len(classes)), classes].astype(np.float64)


def qualitative_codes(strengths: np.ndarray, largest: np.ndarray) -> np.ndarray:
    """Strength relative to the row's largest absolute effect, in thirds: +++ above 2/3, ++ above 1/3,
    + for the rest of [0, 1/3]; the same downwards for negative strengths. Index into QUALITATIVE."""
    ratio = np.divide(strengths, largest[:, None], out=np.zeros_like(strengths), where=largest[:, None] > 0)
    conditions = [ratio < -2 / 3, ratio < -1 / 3, ratio < 0, ratio <= 1 / 3, ratio <= 2 / 3]
    return np.select(conditions, [0, 1, 2, 3, 4], 5)


def row_mask(output: np.ndarray, params: ExplanationParams) -> np.ndarray:
    low, high = params.threshold_low, params.threshold_high
    if low is None and high is None:
        return np.ones(len(output), dtype=bool)
    mask = np.zeros(len(output), dtype=bool)
    if low is not None:
        mask |= output <= low
    if high is not None:
        mask |= output >= high
    return mask


def explain(
    model: OnnxModel,
    frame: pd.DataFrame,
    columns: dict[str, np.ndarray],
    result: PredictionResult,
    params: ExplanationParams,
    max_evaluations: int,
    max_batch: int,
) -> Explanations:
    meta = model.metadata
    names = [f.name for f in meta.features]
    if model.background is None or model.background_scores is None:
        raise BadRequest(
            f"Model {meta.model_id} has no explanation background (background.csv), so it cannot be explained."
        )
    classes = result.label_index if meta.target_type is TargetType.MULTICLASS else None
    scores = Scores(values=result.values, probabilities=result.probabilities)
    output = explained_output(model, scores, classes)
    k = min(params.max_explanations, len(names))
    explained = row_mask(output, params) if k else np.zeros(len(output), dtype=bool)
    rows = np.flatnonzero(explained)
    plan: shapley.Plan = model.explanation_plan  # built once, when the model was loaded
    needed = len(rows) * plan.evaluations_per_row
    if needed > max_evaluations:
        limit = max_evaluations // plan.evaluations_per_row
        raise PayloadTooLarge(
            f"Explaining {len(rows)} rows needs {needed} model evaluations; this deployment explains at most "
            f"{limit} rows per request. Send fewer rows or narrow them with thresholdLow/thresholdHigh."
        )
    strengths = np.zeros((len(output), len(names)))
    base = np.zeros(len(output))
    if len(rows):
        attribution = _attribute(model, plan, columns, rows, output, classes, names, max_batch)
        strengths[rows] = attribution.strengths
        base[rows] = attribution.base
    order = np.argsort(-np.abs(strengths), axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(strengths, order, axis=1)
    largest = np.abs(strengths).max(axis=1)
    labels = _labels(model, result)
    return Explanations(
        feature_names=names,
        order=order,
        strengths=top,
        qualitative_codes=qualitative_codes(top, largest),
        explained=explained,
        labels=labels,
        values=frame[names],
        method=plan.method,
        base=base,
    )


def _attribute(
    model: OnnxModel,
    plan: shapley.Plan,
    columns: dict[str, np.ndarray],
    rows: np.ndarray,
    output: np.ndarray,
    classes: np.ndarray | None,
    names: list[str],
    max_batch: int,
) -> shapley.Attribution:
    assert model.background is not None and model.background_scores is not None
    background_scores = model.background_scores
    chosen = classes[rows] if classes is not None else None

    def evaluate(perturbed: dict[str, np.ndarray], source: np.ndarray) -> np.ndarray:
        scored = model.predict(perturbed)
        return explained_output(model, scored, chosen[source] if chosen is not None else None)

    if model.metadata.target_type is TargetType.MULTICLASS:
        assert background_scores.probabilities is not None and chosen is not None
        f_background = background_scores.probabilities[:, chosen].T.astype(np.float64)  # (rows, B)
    else:
        per_background = explained_output(model, background_scores, None)
        f_background = np.broadcast_to(per_background, (len(rows), len(per_background)))
    subset = {name: columns[name][rows] for name in names}
    return shapley.attribute(plan, subset, model.background, names, output[rows], f_background, evaluate, max_batch)


def _labels(model: OnnxModel, result: PredictionResult) -> np.ndarray:
    meta = model.metadata
    if meta.target_type is TargetType.REGRESSION:
        return np.full(result.rows, meta.target_name, dtype=object)
    if meta.target_type is TargetType.BINARY:
        return np.full(result.rows, meta.positive_class, dtype=object)
    assert result.label_index is not None
    return np.array(meta.class_labels, dtype=object)[result.label_index]
