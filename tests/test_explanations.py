"""predictionExplanations: the contract, and the Shapley values shown right (not claimed)."""

from __future__ import annotations

import gzip
import io
import json

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from conftest import AUTH, BINARY, BINARY_MODEL, DEMO_BUCKET, MULTICLASS, REGRESSION, sample
from drcompat.api import create_app
from drcompat.config import Settings
from onnx_factory import DIABETES, linear_regression, point_deployment, publish

CSV = {**AUTH, "Content-Type": "text/csv"}
LINEAR = "65f1b00000000000000000cc"


def explain_url(deployment: str, query: str = "") -> str:
    return f"/predApi/v1.0/deployments/{deployment}/predictionExplanations{query}"


def explain(client, deployment, body, query="", headers=None):
    response = client.post(explain_url(deployment, query), content=body, headers={**CSV, **(headers or {})})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def background_mean_output(model_id: str) -> float:
    """Mean positive-class probability over the model's stored background, computed by hand."""
    folder = DEMO_BUCKET / "models" / model_id
    background = pd.read_csv(folder / "background.csv", dtype={"sex": str})
    session = ort.InferenceSession(str(folder / "model.onnx"))
    feeds = {
        i.name: (
            background[i.name].astype(str) if i.type == "tensor(string)" else background[i.name].astype(np.float32)
        )
        .to_numpy()
        .reshape(-1, 1)
        for i in session.get_inputs()
    }
    return float(session.run(["probabilities"], feeds)[0][:, 1].mean())


@pytest.mark.parametrize("features", [DIABETES, DIABETES[:4]], ids=["9 features, sampled", "4 features, exact"])
def test_linear_model_strengths_are_coef_times_distance_from_background_mean(client, bucket, features):
    rng = np.random.default_rng(5)
    coef = rng.normal(size=len(features)) * 3
    background = pd.read_csv(io.BytesIO(sample("diabetes_regression")))[features].head(16)
    publish(
        bucket,
        LINEAR,
        linear_regression(list(coef), 7.5, double=True),
        features=features,
        background=background.to_csv(index=False).encode(),
    )
    point_deployment(bucket, REGRESSION, LINEAR)
    rows = pd.read_csv(io.BytesIO(sample("diabetes_regression")))[features]
    data = explain(client, REGRESSION, rows.to_csv(index=False), f"?maxExplanations={len(features)}")
    expected = coef * (rows.to_numpy() - background.to_numpy().mean(axis=0))
    for row, want in zip(data, expected, strict=True):
        got = {e["feature"]: e["strength"] for e in row["predictionExplanations"]}
        assert len(got) == len(features)
        for j, name in enumerate(features):
            assert got[name] == pytest.approx(want[j], abs=1e-6)
        assert all(e["label"] == "progression" for e in row["predictionExplanations"])


def test_tree_pipeline_strengths_add_up_to_prediction_minus_base(client):
    data = explain(client, BINARY, sample("diabetes_binary"), "?maxExplanations=10")
    base = background_mean_output(BINARY_MODEL)
    for row in data:
        probability = row["predictionValues"][0]["value"]  # the positive class, the explained space
        total = sum(e["strength"] for e in row["predictionExplanations"])
        assert total == pytest.approx(probability - base, abs=1e-6)
        assert all(e["label"] == 1 for e in row["predictionExplanations"])


def test_ordering_values_and_qualitative_strength(client):
    body = sample("diabetes_binary")
    frame = pd.read_csv(io.BytesIO(body), dtype={"sex": str})
    data = explain(client, BINARY, body, "?maxExplanations=10")
    for row, (_, original) in zip(data, frame.iterrows(), strict=True):
        items = row["predictionExplanations"]
        strengths = [abs(e["strength"]) for e in items]
        assert strengths == sorted(strengths, reverse=True)
        largest = strengths[0]
        for e in items:
            assert e["featureValue"] == original[e["feature"]]  # the row's own value, its own type
            ratio = e["strength"] / largest
            symbols = "+++" if ratio > 2 / 3 else "++" if ratio > 1 / 3 else "+" if ratio >= 0 else None
            if ratio < 0:
                symbols = "---" if ratio < -2 / 3 else "--" if ratio < -1 / 3 else "-"
            assert e["qualitativeStrength"] == symbols
        assert items[0]["qualitativeStrength"] in ("+++", "---")
    assert isinstance(data[0]["predictionExplanations"][0]["label"], int)


def test_max_explanations_default_three_and_zero_means_none(client):
    default = explain(client, MULTICLASS, sample("iris_multiclass"))
    assert all(len(r["predictionExplanations"]) == 3 for r in default)
    none = explain(client, MULTICLASS, sample("iris_multiclass"), "?maxExplanations=0")
    assert all(r["predictionExplanations"] == [] for r in none)
    capped = explain(client, MULTICLASS, sample("iris_multiclass"), "?maxExplanations=99")
    assert all(len(r["predictionExplanations"]) == 4 for r in capped)


def test_thresholds_select_rows(client):
    data = explain(client, BINARY, sample("diabetes_binary"), "?thresholdLow=0.2&thresholdHigh=0.8")
    for row in data:
        p = row["predictionValues"][0]["value"]
        assert bool(row["predictionExplanations"]) == (p <= 0.2 or p >= 0.8)
    assert any(row["predictionExplanations"] for row in data) and not all(row["predictionExplanations"] for row in data)
    only_high = explain(client, BINARY, sample("diabetes_binary"), "?thresholdHigh=0.8&thresholdLow=null")
    assert all(bool(r["predictionExplanations"]) == (r["predictionValues"][0]["value"] >= 0.8) for r in only_high)


def test_multiclass_explains_the_predicted_class(client):
    data = explain(client, MULTICLASS, sample("iris_multiclass"), "?maxExplanations=4")
    for row in data:
        assert {e["label"] for e in row["predictionExplanations"]} == {row["prediction"]}


def test_matches_shap_exact_for_a_small_model(client):
    shap = pytest.importorskip("shap")
    folder = DEMO_BUCKET / "models" / "65f1b0000000000000000003"
    session = ort.InferenceSession(str(folder / "model.onnx"))
    background = pd.read_csv(folder / "background.csv").to_numpy(np.float32)
    rows = pd.read_csv(io.BytesIO(sample("iris_multiclass")))
    data = explain(client, MULTICLASS, sample("iris_multiclass"), "?maxExplanations=4")
    labels = ["setosa", "versicolor", "virginica"]
    for k, label in enumerate(labels):
        explainer = shap.Explainer(
            lambda x, k=k: session.run(["probabilities"], {"input": x.astype(np.float32)})[0][:, k],
            shap.maskers.Independent(background, max_samples=len(background)),
            algorithm="exact",
        )
        reference = explainer(rows.to_numpy(np.float32)).values
        for row, want in zip(data, reference, strict=True):
            if row["prediction"] != label:
                continue
            got = {e["feature"]: e["strength"] for e in row["predictionExplanations"]}
            assert [got[c] for c in rows.columns] == pytest.approx(list(want), abs=1e-6)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("?maxExplanations=-1", "maxExplanations"),
        ("?maxExplanations=three", "maxExplanations"),
        ("?thresholdLow=low", "thresholdLow"),
        ("?thresholdHigh=inf", "thresholdHigh"),
        ("?thresholdHigh=0.5&thresholdHigh=0.6", "thresholdHigh"),
        ("?excludeAdjustedPredictions=perhaps", "excludeAdjustedPredictions"),
        ("?passthroughColumns=a&passthroughColumnsSet=all", "passthroughColumns"),
        ("?forecastPoint=2024-01-01", "forecastPoint"),
    ],
)
def test_invalid_parameters_are_400_naming_them(client, query, name):
    response = client.post(explain_url(BINARY, query), content=sample("diabetes_binary"), headers=CSV)
    assert response.status_code == 400
    assert name in response.json()["message"]


def test_every_input_form_and_passthrough(client):
    reference = explain(client, MULTICLASS, sample("iris_multiclass"))
    records = json.loads(pd.read_csv(io.BytesIO(sample("iris_multiclass"))).to_json(orient="records"))
    as_json = client.post(explain_url(MULTICLASS), json=records, headers=AUTH).json()["data"]
    gz = explain(client, MULTICLASS, gzip.compress(sample("iris_multiclass")), headers={"Content-Encoding": "gzip"})
    files = {"file": ("iris.csv", sample("iris_multiclass"), "text/csv")}
    multipart = client.post(explain_url(MULTICLASS), files=files, headers=AUTH).json()["data"]
    assert as_json == reference and gz == reference and multipart == reference
    with_passthrough = explain(client, MULTICLASS, sample("iris_multiclass"), "?passthroughColumns=sepal_width")
    assert all("passthroughValues" in r and r["predictionExplanations"] for r in with_passthrough)


def test_auth_and_headers_are_the_same_as_predictions(client):
    unauthenticated = client.post(
        explain_url(BINARY), content=sample("diabetes_binary"), headers={"Content-Type": "text/csv"}
    )
    assert unauthenticated.status_code == 401
    response = client.post(explain_url(BINARY), content=sample("diabetes_binary"), headers=CSV)
    assert response.headers["X-DataRobot-Model-Id"] == BINARY_MODEL
    assert "X-DataRobot-Request-Id" in response.headers and "X-DataRobot-Execution-Time" in response.headers
    without_prefix = client.post(
        f"/deployments/{BINARY}/predictionExplanations", content=sample("diabetes_binary"), headers=CSV
    )
    assert without_prefix.json() == response.json()


def test_csv_answer_has_explanation_columns(client):
    text = client.post(
        explain_url(BINARY, "?maxExplanations=2&thresholdHigh=0.5"),
        content=sample("diabetes_binary"),
        headers={**CSV, "Accept": "text/csv"},
    ).text
    frame = pd.read_csv(io.StringIO(text))
    wanted = [
        f"EXPLANATION_{n}_{part}"
        for n in (1, 2)
        for part in ("FEATURE_NAME", "STRENGTH", "ACTUAL_VALUE", "QUALITATIVE_STRENGTH")
    ]
    assert list(frame.columns[-8:]) == wanted
    explained = frame["progression_high_1_PREDICTION"] >= 0.5
    assert frame.loc[explained, "EXPLANATION_1_FEATURE_NAME"].notna().all()
    assert frame.loc[~explained, "EXPLANATION_1_FEATURE_NAME"].isna().all()


def test_too_many_rows_is_413_naming_the_row_limit(bucket):
    settings = Settings(storage_root=bucket, explain_max_evaluations=20_000, registry_ttl_seconds=0)
    with TestClient(create_app(settings)) as client:
        response = client.post(explain_url(BINARY), content=sample("diabetes_binary"), headers=CSV)
        assert response.status_code == 413
        message = response.json()["message"]
        assert "at most 17 rows" in message  # 20,000 // (32 background rows x 4 walks x 9 steps)
        narrowed = client.post(
            explain_url(BINARY, "?thresholdHigh=0.9"), content=sample("diabetes_binary"), headers=CSV
        )
        assert narrowed.status_code == 200


def test_model_without_background_is_a_clear_400(client, bucket):
    publish(bucket, LINEAR, linear_regression([1.0] * 9, 0.0))
    point_deployment(bucket, REGRESSION, LINEAR)
    response = client.post(explain_url(REGRESSION), content=sample("diabetes_regression"), headers=CSV)
    assert response.status_code == 400
    assert "background" in response.json()["message"]
    assert (
        client.post(
            f"/predApi/v1.0/deployments/{REGRESSION}/predictions", content=sample("diabetes_regression"), headers=CSV
        ).status_code
        == 200
    )


def test_missing_and_unseen_values_are_explained_as_the_model_sees_them(client):
    body = "age,sex,bmi,bp,s1,s2,s3,s4,s5,s6\n50,,31.5,,190,120,45,4,4.6,95\n44,unknown,25,85,180,110,50,3.5,4.4,88\n"
    data = explain(client, BINARY, body, "?maxExplanations=10")
    base = background_mean_output(BINARY_MODEL)
    missing = {e["feature"]: e["featureValue"] for e in data[0]["predictionExplanations"]}
    assert missing["sex"] is None and missing["bp"] is None  # null, as sent
    unseen = {e["feature"]: e["featureValue"] for e in data[1]["predictionExplanations"]}
    assert unseen["sex"] == "unknown"
    for row in data:
        total = sum(e["strength"] for e in row["predictionExplanations"])
        assert total == pytest.approx(row["predictionValues"][0]["value"] - base, abs=1e-6)
