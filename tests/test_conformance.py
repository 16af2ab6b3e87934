"""Contract details a DataRobot user meets first: missing values, exposure, the bad inputs that
used to be 500s, and the settings the seed makes explicit."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import AUTH, MULTICLASS, REGRESSION, ROOT, SAMPLES, sample, url

EXPOSURE = "65f1a0000000000000000005"
TS = "65f1a0000000000000000004"
CSV = {**AUTH, "Content-Type": "text/csv"}
JSON = {**AUTH, "Content-Type": "application/json"}


# --- missing values: never a 200 with null predictions ------------------------------------------


@pytest.mark.parametrize("deployment", [REGRESSION, MULTICLASS, EXPOSURE])
def test_blank_cells_are_imputed_by_the_demo_pipelines(client, deployment):
    name = {REGRESSION: "diabetes_regression", MULTICLASS: "iris_multiclass", EXPOSURE: "claims_exposure"}[deployment]
    frame = pd.read_csv(SAMPLES / f"{name}.csv").head(4)
    features = [c for c in frame.columns if c not in ("policy_id", "exposure")]
    for i, column in enumerate(features[:4]):
        frame.loc[i, column] = np.nan
    response = client.post(url(deployment), content=frame.to_csv(index=False).encode(), headers=CSV)
    assert response.status_code == 200, response.text
    assert b"null" not in response.content
    for row in response.json()["data"]:
        assert all(isinstance(v["value"], float) for v in row["predictionValues"])


def test_blank_cells_explained_without_nulls(client):
    body = b"sepal_length,sepal_width,petal_length,petal_width\n,3.0,,1.2\n"
    response = client.post(url(MULTICLASS).replace("predictions", "predictionExplanations"), content=body, headers=CSV)
    assert response.status_code == 200, response.text
    assert b'"strength":null' not in response.content and b'"value":null' not in response.content
    explanations = response.json()["data"][0]["predictionExplanations"]
    assert all(isinstance(e["strength"], float) for e in explanations)
    assert {e["feature"]: e["featureValue"] for e in explanations}.get("sepal_length") is None  # as sent


def test_a_model_that_returns_nan_is_a_400_naming_rows_and_columns(client, bucket):
    from onnx_factory import DIABETES, linear_regression, point_deployment, publish

    publish(bucket, "65f1b00000000000000000f1", linear_regression([1.0] * 9, 0.0))  # no imputation
    point_deployment(bucket, REGRESSION, "65f1b00000000000000000f1", humilityRules=[])
    frame = pd.DataFrame(np.ones((4, 9)), columns=DIABETES)
    frame.loc[1, "bmi"] = np.nan
    frame.loc[3, "s5"] = np.nan
    response = client.post(url(REGRESSION), content=frame.to_csv(index=False).encode(), headers=CSV)
    assert response.status_code == 400
    message = response.json()["message"]
    assert "rows 1, 3" in message and "bmi" in message and "s5" in message
    assert "age" not in message


# --- exposure-adjusted predictions ---------------------------------------------------------------


def test_adjusted_predictions_are_excluded_by_default(client):
    response = client.post(url(EXPOSURE), content=sample("claims_exposure"), headers=CSV)
    assert response.status_code == 200, response.text
    assert b"adjustedPrediction" not in response.content
    as_csv = client.post(url(EXPOSURE), content=sample("claims_exposure"), headers={**CSV, "Accept": "text/csv"})
    assert "ADJUSTED" not in as_csv.text.splitlines()[0]


def test_adjusted_predictions_json_and_csv(client):
    body = sample("claims_exposure")
    frame = pd.read_csv(io.BytesIO(body))
    query = "?excludeAdjustedPredictions=false"
    response = client.post(url(EXPOSURE) + query, content=body, headers=CSV)
    assert response.status_code == 200, response.text
    rows = response.json()["data"]
    for row, exposure in zip(rows, frame["exposure"], strict=True):
        assert row["adjustedPrediction"] == pytest.approx(row["prediction"] * exposure, rel=1e-12)
        assert row["adjustedPredictionValues"] == [{"label": "claim_count", "value": row["adjustedPrediction"]}]
        assert row["predictionValues"] == [{"label": "claim_count", "value": row["prediction"]}]
    # the rate does not depend on the exposure; the adjusted count does, proportionally
    doubled = frame.assign(exposure=frame["exposure"] * 2).to_csv(index=False).encode()
    again = client.post(url(EXPOSURE) + query, content=doubled, headers=CSV).json()["data"]
    assert [r["prediction"] for r in again] == [r["prediction"] for r in rows]
    assert [r["adjustedPrediction"] for r in again] == pytest.approx([2 * r["adjustedPrediction"] for r in rows])
    as_csv = client.post(url(EXPOSURE) + query, content=body, headers={**CSV, "Accept": "text/csv"})
    table = pd.read_csv(io.StringIO(as_csv.text))
    assert list(table.columns) == ["claim_count_PREDICTION", "claim_count_ADJUSTED_PREDICTION"]
    assert table["claim_count_ADJUSTED_PREDICTION"].to_numpy() == pytest.approx([r["adjustedPrediction"] for r in rows])
    explained = client.post(
        url(EXPOSURE).replace("predictions", "predictionExplanations") + query, content=body, headers=CSV
    )
    assert explained.status_code == 200, explained.text
    assert "adjustedPrediction" in explained.json()["data"][0]


def test_adjusted_predictions_need_a_positive_exposure(client):
    frame = pd.read_csv(SAMPLES / "claims_exposure.csv").head(3)
    query = "?excludeAdjustedPredictions=false"
    missing = client.post(
        url(EXPOSURE) + query, content=frame.drop(columns="exposure").to_csv(index=False).encode(), headers=CSV
    )
    assert missing.status_code == 400 and "exposure" in missing.json()["message"]
    frame.loc[2, "exposure"] = 0
    zero = client.post(url(EXPOSURE) + query, content=frame.to_csv(index=False).encode(), headers=CSV)
    assert zero.status_code == 400 and "rows 2" in zero.json()["message"]
    ignored = client.post(url(EXPOSURE), content=frame.to_csv(index=False).encode(), headers=CSV)
    assert ignored.status_code == 200  # not asked for: the exposure is not needed


def test_exposure_metadata_is_validated():
    from drcompat.models.metadata import MetadataError, ModelMetadata

    doc = yaml.safe_load((ROOT / "layers/models/models/65f1b0000000000000000005/model.yaml").read_text())
    assert ModelMetadata.from_dict(doc).exposure is not None
    for bad in ({"column": ""}, {"column": "exposure", "link": "identity"}, {"column": "density"}):
        with pytest.raises(MetadataError):
            ModelMetadata.from_dict({**doc, "exposure": bad})


# --- inputs that used to answer 500 --------------------------------------------------------------


def test_huge_number_in_a_categorical_json_field(client):
    row = {"age": 50, "sex": 1e19, "bmi": 25, "bp": 80, "s1": 150, "s2": 90, "s3": 50, "s4": 3, "s5": 4.5, "s6": 90}
    response = client.post(url("65f1a0000000000000000001"), json=[row], headers=AUTH)
    assert response.status_code == 400 and "sex" in response.json()["message"]


@pytest.mark.parametrize(
    ("query", "replace"),
    [
        ("?forecastPoint=2300-01-01", None),
        ("?forecastPoint=2262-04-10", None),
        ("", ("2025-12-31", "2262-04-12")),
        ("?predictionsStartDate=2025-12-20&predictionsEndDate=2263-01-01", None),
    ],
)
def test_timestamps_past_2262_are_a_400(client, query, replace):
    body = sample("daily_sales_timeseries").decode()
    if replace:
        body = body.replace(*replace)
    response = client.post(url(TS) + query, content=body.encode(), headers=CSV)
    assert response.status_code == 400, response.text
    assert "2262-04-11" in response.json()["message"]


def multipart(boundary: str, parts: list[bytes]) -> bytes:
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.csv"\r\n\r\n'.encode()
        + part
        + b"\r\n"
        for part in parts
    )
    return body + f"--{boundary}--\r\n".encode()


def test_long_multipart_boundary_and_two_file_parts(client):
    csv = sample("iris_multiclass")
    boundary = "b" * 300
    long = client.post(
        url(MULTICLASS),
        content=multipart(boundary, [csv]),
        headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert long.status_code == 400 and "boundary" in long.json()["message"]
    two = client.post(
        url(MULTICLASS),
        content=multipart("xyz", [csv, csv]),
        headers={**AUTH, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert two.status_code == 400 and "2 'file' parts" in two.json()["message"]


def test_duplicate_csv_column_names_are_a_400(client):
    text = "sepal_length,sepal_width,petal_length,petal_width,petal_width\n5,3,1,0.2,9\n"
    for charset in ("utf-8", "utf-16"):
        headers = {**AUTH, "Content-Type": f"text/csv; charset={charset}"}
        response = client.post(url(MULTICLASS), content=text.encode(charset), headers=headers)
        assert response.status_code == 400 and "'petal_width'" in response.json()["message"]
    renamed = text.replace("petal_width\n", "petal_width.1\n", 1).encode()  # a real name, not a duplicate
    assert client.post(url(MULTICLASS), content=renamed, headers=CSV).status_code == 200


# --- the seed's explicit details -----------------------------------------------------------------


def test_unnamed_humility_rule_gets_a_timestamp_name(client, bucket):
    doc = yaml.safe_load((bucket / "deployments.yaml").read_text())
    doc["deployments"][REGRESSION]["humilityRules"] = [
        {
            "id": "5ebad4735f11b33a38ff3e0d",
            "trigger": "uncertainPrediction",
            "action": "noOperation",
            "lower": 0,
            "upper": 1,
        }
    ]
    (bucket / "deployments.yaml").write_text(yaml.safe_dump(doc))
    response = client.post(url(REGRESSION), content=sample("diabetes_regression"), headers=CSV)
    assert response.status_code == 200, response.text
    rule = response.json()["data"][0]["humility"][0]
    assert rule["ruleId"] == "5ebad4735f11b33a38ff3e0d"
    assert rule["ruleName"] == "Rule 2020-05-12 16:53:07 UTC"  # the ObjectId's creation time


def test_original_format_timestamp_only_when_the_deployment_turns_it_on(client, bucket):
    body = sample("daily_sales_timeseries")
    shown = client.post(url(TS), content=body, headers=CSV).json()["data"][0]
    assert shown["originalFormatTimestamp"] == "2025-12-25"
    doc = yaml.safe_load((bucket / "deployments.yaml").read_text())
    doc["deployments"][TS].pop("originalFormatTimestamp")
    (bucket / "deployments.yaml").write_text(yaml.safe_dump(doc))
    hidden = client.post(url(TS), content=body, headers=CSV).json()["data"][0]
    assert "originalFormatTimestamp" not in hidden
    assert hidden["timestamp"] == "2025-12-25T00:00:00.000000Z"


def test_date_range_request_on_the_bundled_sample(client):
    query = "?predictionsStartDate=2025-12-18&predictionsEndDate=2025-12-24"
    response = client.post(url(TS) + query, content=sample("daily_sales_timeseries"), headers=CSV)
    assert response.status_code == 200, response.text
    rows = response.json()["data"]
    assert len(rows) == 3 * 7 * 7  # series x dates x forecast distances
    assert {r["timestamp"][:10] for r in rows} == {f"2025-12-{d}" for d in range(18, 25)}


# --- reproducible demo models --------------------------------------------------------------------


def test_make_models_is_byte_identical(tmp_path):
    """Two builds in separate processes with different hash seeds write the same bytes."""
    script = ROOT / "scripts" / "build_demo_models.py"
    runs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = tmp_path / f"build{seed}"
        runs.append((out, subprocess.Popen([sys.executable, str(script), "--out", str(out)], env=env)))
    for _, process in runs:
        assert process.wait(timeout=300) == 0
    (first, _), (second, _) = runs
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert len(files) > 10
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
        assert (first / name).read_bytes() == (ROOT / "layers" / "models" / name).read_bytes(), name
