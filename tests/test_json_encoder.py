"""The column-wise JSON encoder answers byte for byte what plain orjson over per-row dicts answers,
across its block boundaries, fused small tables (labels, humility flags) and overrides."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from drcompat.codecs.response_json import JOIN_ROWS, encode_json
from drcompat.humility import HumilityResult, Rule
from drcompat.models.metadata import Feature, ModelMetadata, TargetType
from drcompat.result import PredictionResult

MODEL_ID = "65f1b0000000000000000001"
FEATURES = (Feature("x", "numeric"),)


def rules(count: int, override: Any = None) -> tuple[Rule, ...]:
    found = []
    for j in range(count):
        action = "overridePrediction" if override is not None and j % 2 else "noOperation"
        value = override if action == "overridePrediction" else None
        name = f'rule "{j}" é'
        found.append(Rule(f"65f1c00000000000000000{j:02d}", name, "outlyingInput", action, "x", value=value))
    return tuple(found)


def expected(result: PredictionResult) -> bytes:
    """The answer built row by row from plain dicts (the reference)."""
    meta = result.metadata
    rows = []
    humility = result.humility
    for i in range(result.rows):
        row: dict[str, Any] = {}
        if meta.target_type is TargetType.REGRESSION:
            assert result.values is not None
            row["predictionValues"] = [{"label": meta.target_name, "value": result.values[i]}]
            prediction: Any = result.values[i]
        else:
            assert result.probabilities is not None and result.label_index is not None
            order = result.class_order()
            row["predictionValues"] = [
                {"label": meta.class_labels[k], "value": result.probabilities[i, k]} for k in order
            ]
            if meta.target_type is TargetType.BINARY:
                row["predictionThreshold"] = result.threshold
            prediction = meta.class_labels[result.label_index[i]]
        if humility is not None:
            for mask, value in humility.overrides():
                if mask[i]:
                    prediction = value
                    break
        row["prediction"] = prediction
        row["rowId"] = i
        if humility is not None:
            row["humility"] = [
                {"ruleId": rule.id, "triggered": bool(humility.triggered[i, j]), "ruleName": rule.name}
                for j, rule in enumerate(humility.rules)
            ]
        rows.append(row)
    return orjson.dumps({"data": rows}, option=orjson.OPT_SERIALIZE_NUMPY)


def metadata(target: TargetType, labels: tuple[Any, ...] = ()) -> ModelMetadata:
    positive = labels[1] if target is TargetType.BINARY else None
    return ModelMetadata(MODEL_ID, "m", target, "y", FEATURES, labels, positive)


def with_humility(result: PredictionResult, count: int, override: Any, rng: np.random.Generator) -> PredictionResult:
    if count:
        triggered = rng.random((result.rows, count)) < 0.3
        result.humility = HumilityResult(rules(count, override), triggered)
    return result


@pytest.mark.parametrize("rows", [1, 2, JOIN_ROWS - 1, JOIN_ROWS, 2 * JOIN_ROWS + 3])
@pytest.mark.parametrize(("count", "override"), [(0, None), (2, None), (3, "yes"), (7, 1)])
def test_binary_answer_is_plain_orjson(rows, count, override):
    rng = np.random.default_rng(rows + count)
    positive = rng.random(rows).astype(np.float32)
    probabilities = np.stack([1 - positive, positive], axis=1)
    result = PredictionResult(metadata(TargetType.BINARY, (0, 1)), rows, probabilities=probabilities, threshold=0.5)
    result.label_index = np.where(positive >= 0.5, 1, 0)
    with_humility(result, count, override, rng)
    assert encode_json(result) == expected(result)


@pytest.mark.parametrize("rows", [1, JOIN_ROWS + 1])
def test_multiclass_and_regression_answers_are_plain_orjson(rows):
    rng = np.random.default_rng(rows)
    raw = rng.random((rows, 3))
    probabilities = raw / raw.sum(axis=1, keepdims=True)
    labels = ("setosa", 'versi"color', "virginica")
    result = PredictionResult(metadata(TargetType.MULTICLASS, labels), rows, probabilities=probabilities)
    result.label_index = np.argmax(probabilities, axis=1)
    with_humility(result, 2, {"an": "object"}, rng)
    assert encode_json(result) == expected(result)
    regression = PredictionResult(metadata(TargetType.REGRESSION), rows, values=rng.normal(size=rows) * 1e3)
    with_humility(regression, 3, -1.5, rng)
    assert encode_json(regression) == expected(regression)


def test_row_id_tokens_are_kept_between_answers():
    from drcompat.codecs.response_json import MAX_CACHED_COUNT, count_tokens

    assert count_tokens(3) == [b"0", b"1", b"2"]
    assert count_tokens(1000)[-1] == b"999" and count_tokens(2)[-1] == b"1"
    beyond = count_tokens(MAX_CACHED_COUNT + 2)
    assert len(beyond) == MAX_CACHED_COUNT + 2 and beyond[-1] == str(MAX_CACHED_COUNT + 1).encode()
    assert count_tokens(MAX_CACHED_COUNT)[-1] == str(MAX_CACHED_COUNT - 1).encode()
