"""Humility rules through the HTTP API: report, override and throw-error actions on each trigger."""

from __future__ import annotations

import io

import pandas as pd
import pytest
import yaml

from conftest import AUTH, BINARY, DEMO_BUCKET, REGRESSION, REGRESSION_MODEL, sample, url
from drcompat.deployments import RegistryError, parse_registry

CSV = {**AUTH, "Content-Type": "text/csv"}
RULE = "65f1c00000000000000000a"


def set_rules(bucket, deployment, rules):
    path = bucket / "deployments.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["deployments"][deployment]["humilityRules"] = rules
    path.write_text(yaml.safe_dump(doc))


def predict(client, deployment, body, headers=None):
    response = client.post(url(deployment), content=body, headers={**CSV, **(headers or {})})
    return response


def test_demo_rules_are_reported_on_every_row(client):
    body = sample("diabetes_regression")
    rows = predict(client, REGRESSION, body).json()["data"]
    frame = pd.read_csv(io.BytesIO(body))
    stats = yaml.safe_load((DEMO_BUCKET / "models" / REGRESSION_MODEL / "model.yaml").read_text())["trainingStats"][
        "bmi"
    ]
    for row, bmi in zip(rows, frame["bmi"], strict=True):
        by_id = {h["ruleId"]: h for h in row["humility"]}
        assert by_id["65f1c0000000000000000003"]["ruleName"] == "Uncertain Prediction Trigger"
        assert by_id["65f1c0000000000000000003"]["triggered"] == (not 25 <= row["prediction"] <= 346)
        assert by_id["65f1c0000000000000000004"]["triggered"] == (not stats["q01"] <= bmi <= stats["q99"])
    assert any(h["triggered"] for r in rows for h in r["humility"])  # the sample exercises a rule


def test_binary_band_and_low_observation_region(client):
    body = "age,sex,bmi,bp,s1,s2,s3,s4,s5,s6\n" + "\n".join(
        [
            "50,male,30,90,180,110,40,4,4.5,90",
            "50,unknown,30,90,180,110,40,4,4.5,90",
        ]
    )
    rows = predict(client, BINARY, body).json()["data"]
    for row in rows:
        by_id = {h["ruleId"]: h["triggered"] for h in row["humility"]}
        p = row["predictionValues"][0]["value"]
        assert by_id["65f1c0000000000000000001"] == (0.45 <= p <= 0.55)
    assert [{h["ruleId"]: h["triggered"] for h in r["humility"]}["65f1c0000000000000000002"] for r in rows] == [
        False,
        True,
    ]


def test_override_replaces_prediction_not_prediction_values(client, bucket):
    set_rules(
        bucket,
        REGRESSION,
        [
            {
                "id": RULE + "1",
                "name": "big",
                "trigger": "uncertainPrediction",
                "upper": 150,
                "action": "overridePrediction",
                "value": 5220,
            },
            {
                "id": RULE + "2",
                "name": "later",
                "trigger": "uncertainPrediction",
                "upper": 100,
                "action": "overridePrediction",
                "value": -1,
            },
        ],
    )
    rows = predict(client, REGRESSION, sample("diabetes_regression")).json()["data"]
    for row in rows:
        model_value = row["predictionValues"][0]["value"]
        assert row["prediction"] == (5220 if model_value > 150 else -1 if model_value > 100 else model_value)
    assert {r["prediction"] for r in rows} >= {5220}
    text = predict(client, REGRESSION, sample("diabetes_regression"), {"Accept": "text/csv"}).text
    frame = pd.read_csv(io.StringIO(text))
    assert set(frame.loc[frame[f"HUMILITY_{RULE}1_TRIGGERED"], "progression_PREDICTION"]) == {5220}


def test_override_on_binary_sets_the_label(client, bucket):
    set_rules(
        bucket,
        BINARY,
        [
            {
                "id": RULE + "3",
                "name": "unsure",
                "trigger": "uncertainPrediction",
                "lower": 0.0,
                "upper": 1.0,
                "action": "overridePrediction",
                "value": 0,
            }
        ],
    )
    rows = predict(client, BINARY, sample("diabetes_binary")).json()["data"]
    assert {r["prediction"] for r in rows} == {0}
    assert any(r["predictionValues"][0]["value"] >= 0.5 for r in rows)  # the model's output is kept


def test_throw_error_answers_480(client, bucket):
    set_rules(
        bucket,
        REGRESSION,
        [
            {
                "id": RULE + "4",
                "name": "no outliers",
                "trigger": "outlyingInput",
                "feature": "bmi",
                "upper": 30,
                "action": "throwError",
            }
        ],
    )
    response = predict(client, REGRESSION, sample("diabetes_regression"))
    assert response.status_code == 480
    assert response.json() == {"message": "Humility ReturnError action triggered."}
    calm = "age,bmi,bp,s1,s2,s3,s4,s5,s6\n50,25,90,180,110,40,4,4.5,90\n"
    assert predict(client, REGRESSION, calm).status_code == 200


def test_explanations_carry_humility_too(client):
    response = client.post(
        f"/predApi/v1.0/deployments/{REGRESSION}/predictionExplanations",
        content=sample("diabetes_regression"),
        headers=CSV,
    )
    assert all("humility" in row and "predictionExplanations" in row for row in response.json()["data"])


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"id": "x", "trigger": "uncertainPrediction", "action": "noOperation"}, "ObjectId"),
        ({"id": RULE + "5\n", "trigger": "uncertainPrediction", "action": "noOperation"}, "ObjectId"),
        ({"id": RULE + "5", "trigger": "drift", "action": "noOperation"}, "trigger"),
        ({"id": RULE + "5", "trigger": "uncertainPrediction", "action": "panic"}, "action"),
        ({"id": RULE + "5", "trigger": "outlyingInput", "action": "noOperation"}, "needs a feature"),
        ({"id": RULE + "5", "trigger": "uncertainPrediction", "action": "overridePrediction"}, "needs a value"),
        ({"id": RULE + "5", "trigger": "uncertainPrediction", "action": "noOperation", "lower": "low"}, "numbers"),
    ],
)
def test_bad_rules_are_rejected_by_the_registry(rule, words):
    doc = yaml.safe_load((DEMO_BUCKET / "deployments.yaml").read_text())
    doc["deployments"][REGRESSION]["humilityRules"] = [rule]
    with pytest.raises(RegistryError, match=words):
        parse_registry(doc)


def test_ids_with_a_trailing_newline_are_rejected_by_the_registry():
    """An id is written into answer headers (X-DataRobot-Model-Id): no line break may pass."""
    doc = yaml.safe_load((DEMO_BUCKET / "deployments.yaml").read_text())
    doc["deployments"][REGRESSION]["modelId"] += "\n"
    with pytest.raises(RegistryError, match="modelId must be a 24-character"):
        parse_registry(doc)


def test_low_observation_region_reads_text_as_numpy_compares_it():
    """Text columns are checked by a set lookup first; the values it does not settle (not sent as
    allowed) are compared as before: their str, with numpy's fixed-width strings."""
    import numpy as np

    from drcompat.humility import Rule, _trigger
    from drcompat.models.metadata import Feature, ModelMetadata, TargetType

    meta = ModelMetadata("65f1b0000000000000000001", "m", TargetType.REGRESSION, "y", (Feature("t", "categorical"),))
    values = np.array(["male", "", "MALE", "female\x00", "x", "female", "1", "é"], dtype=object)
    rule = Rule(
        "65f1c0000000000000000001", "r", "lowObservationRegion", "noOperation", "t", allowed=("male", "female", 1)
    )
    found = _trigger(rule, meta, {"t": values}, np.zeros(len(values)), None)
    text = values.astype(str)
    expected = ~np.isin(text, np.array(rule.allowed, dtype=str)) & (text != "")
    assert found.tolist() == expected.tolist() == [False, False, True, False, True, False, False, True]
