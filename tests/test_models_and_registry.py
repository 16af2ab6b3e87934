"""Model versions, the registry's reload rules, extra outputs, thresholds and broken models."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
import yaml

from conftest import AUTH, BINARY, REGRESSION, REGRESSION_MODEL, sample, url
from onnx_factory import linear_regression, point_deployment, publish

CSV = {**AUTH, "Content-Type": "text/csv"}
NEW_MODEL = "65f1b00000000000000000aa"


def regression(client):
    return client.post(url(REGRESSION), content=sample("diabetes_regression"), headers=CSV)


def test_new_model_version_is_picked_up_without_restart(client, bucket):
    before = regression(client)
    assert before.headers["X-DataRobot-Model-Id"] == REGRESSION_MODEL
    publish(bucket, NEW_MODEL, linear_regression([1.0] + [0.0] * 8, 0.5))  # prediction = age + 0.5
    point_deployment(bucket, REGRESSION, NEW_MODEL)
    after = regression(client)
    assert after.status_code == 200, after.text
    assert after.headers["X-DataRobot-Model-Id"] == NEW_MODEL
    assert after.headers["X-DataRobot-Model-Cache-Hit"] == "false"
    ages = pd.read_csv(io.BytesIO(sample("diabetes_regression")))["age"]
    assert [r["prediction"] for r in after.json()["data"]] == pytest.approx((ages + 0.5).tolist())
    # and back again: the old version is still cached
    point_deployment(bucket, REGRESSION, REGRESSION_MODEL)
    back = regression(client)
    assert back.json() == before.json()
    assert back.headers["X-DataRobot-Model-Cache-Hit"] == "true"


def test_extra_model_output_in_json_and_csv(client, bucket):
    publish(bucket, NEW_MODEL, linear_regression([1.0] + [0.0] * 8, 50.0, extra=True), ["doubled", "high"])
    point_deployment(bucket, REGRESSION, NEW_MODEL)
    rows = regression(client).json()["data"]
    ages = pd.read_csv(io.BytesIO(sample("diabetes_regression")))["age"].tolist()
    for row, age in zip(rows, ages, strict=True):
        assert row["extraModelOutput"] == {"doubled": pytest.approx(2 * (age + 50)), "high": age + 50 > 100}
    csv = client.post(url(REGRESSION), content=sample("diabetes_regression"), headers={**CSV, "Accept": "text/csv"})
    frame = pd.read_csv(io.StringIO(csv.text))
    assert frame.columns[0] == "progression_PREDICTION"
    assert list(frame.columns)[-2:] == ["doubled", "high"]


def test_models_without_extra_outputs_have_no_extra_key(client):
    assert all("extraModelOutput" not in row for row in regression(client).json()["data"])


def test_deployment_threshold_overrides_the_model_default(client, bucket):
    point_deployment(bucket, BINARY, "65f1b0000000000000000001", predictionThreshold=0.99)
    rows = client.post(url(BINARY), content=sample("diabetes_binary"), headers=CSV).json()["data"]
    assert {r["predictionThreshold"] for r in rows} == {0.99}
    assert all(r["prediction"] == (1 if r["predictionValues"][0]["value"] >= 0.99 else 0) for r in rows)
    assert {r["prediction"] for r in rows} == {0}


def test_broken_registry_keeps_the_last_good_copy(client, bucket):
    assert regression(client).status_code == 200
    (bucket / "deployments.yaml").write_text("deployments: [this is: not valid")
    assert regression(client).status_code == 200
    (bucket / "deployments.yaml").write_text(yaml.safe_dump({"deployments": {"not-an-id": {"modelId": "x"}}}))
    assert regression(client).status_code == 200


def test_registry_missing_from_the_start_is_503(tmp_path):
    from fastapi.testclient import TestClient

    from drcompat.api import create_app
    from drcompat.config import Settings

    with TestClient(create_app(Settings(storage_root=tmp_path))) as client:
        response = regression(client)
    assert response.status_code == 503
    assert "registry" in response.json()["message"]


@pytest.mark.parametrize(
    "breakage",
    ["missing onnx", "corrupt onnx", "sha mismatch", "bad metadata", "features do not match graph"],
)
def test_broken_model_is_a_clean_500(client, bucket, breakage):
    publish(bucket, NEW_MODEL, linear_regression([1.0] * 9, 0.0))
    folder = bucket / "models" / NEW_MODEL
    if breakage == "missing onnx":
        (folder / "model.onnx").unlink()
    elif breakage == "corrupt onnx":
        (folder / "model.onnx").write_bytes(b"garbage")
        meta = yaml.safe_load((folder / "model.yaml").read_text())
        meta.pop("sha256")
        (folder / "model.yaml").write_text(yaml.safe_dump(meta))
    elif breakage == "sha mismatch":
        (folder / "model.onnx").write_bytes(linear_regression([2.0] * 9, 0.0))
    elif breakage == "bad metadata":
        (folder / "model.yaml").write_text("targetType: Sideways\n")
    else:
        meta = yaml.safe_load((folder / "model.yaml").read_text())
        meta["features"] = meta["features"][:3]
        (folder / "model.yaml").write_text(yaml.safe_dump(meta))
    point_deployment(bucket, REGRESSION, NEW_MODEL)
    response = regression(client)
    assert response.status_code == 500
    message = response.json()["message"]
    assert NEW_MODEL in message and "Traceback" not in message and str(bucket) not in message
    point_deployment(bucket, REGRESSION, REGRESSION_MODEL)
    assert regression(client).status_code == 200


def test_concurrent_requests_during_a_version_swap_never_fail(client, bucket):
    publish(bucket, NEW_MODEL, linear_regression([1.0] + [0.0] * 8, 0.0))

    def call(i: int) -> int:
        if i % 10 == 5:
            point_deployment(bucket, REGRESSION, NEW_MODEL if i % 20 == 5 else REGRESSION_MODEL)
        return regression(client).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(call, range(80)))
    assert statuses == [200] * 80
