"""Accuracy and drift for Regression and Multiclass deployments, over HTTP (in-process), against
numbers computed here from the answers; and inputs that must be refused or ignored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from conftest import AUTH, MULTICLASS, REGRESSION, SAMPLES, url
from drcompat.api import create_app
from drcompat.config import Settings
from test_monitoring import clean_bucket

CSV = {**AUTH, "Content-Type": "text/csv"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        storage_root=clean_bucket(tmp_path),
        registry_ttl_seconds=0,
        monitoring_enabled=True,
        monitoring_flush_seconds=3600,
    )
    app = create_app(settings)
    with TestClient(app) as test_client:
        test_client.sink = app.state.service.sink  # type: ignore[attr-defined]
        yield test_client


def scored_with_ids(client: TestClient, deployment: str, sample: str) -> tuple[pd.DataFrame, list[dict]]:
    patch = {"associationId": {"columnNames": ["rid"], "requiredInPredictionRequests": False}}
    assert client.patch(f"/api/v2/deployments/{deployment}/settings/", json=patch, headers=AUTH).status_code == 202
    rows = pd.read_csv(SAMPLES / f"{sample}.csv")
    rows["rid"] = np.arange(len(rows)) + 1000  # numeric ids: matched as text
    answer = client.post(url(deployment), content=rows.to_csv(index=False), headers=CSV)
    assert answer.status_code == 200
    client.sink.flush()  # type: ignore[attr-defined]
    return rows, answer.json()["data"]


def test_regression_accuracy_and_drift(client):
    rows, data = scored_with_ids(client, REGRESSION, "diabetes_regression")
    predicted = np.array([d["prediction"] for d in data])
    truth = predicted + np.where(np.arange(len(rows)) % 2 == 0, 10.0, -30.0)
    actuals = [{"associationId": str(1000 + i), "actualValue": float(t)} for i, t in enumerate(truth)]
    status = client.post(f"/api/v2/deployments/{REGRESSION}/actuals/fromJSON/", json={"data": actuals}, headers=AUTH)
    assert status.status_code == 202
    followed = client.get(status.headers["Location"], headers=AUTH, follow_redirects=False)
    assert followed.status_code == 303 and followed.json()["status"] == "COMPLETED"
    metrics = {
        d["metric"]: d for d in client.get(f"/api/v2/deployments/{REGRESSION}/accuracy/", headers=AUTH).json()["data"]
    }
    assert metrics["RMSE"]["value"] == pytest.approx(np.sqrt(np.mean((predicted - truth) ** 2)))
    assert metrics["MAE"]["value"] == pytest.approx(20.0)
    r2 = 1 - np.sum((truth - predicted) ** 2) / np.sum((truth - truth.mean()) ** 2)
    assert metrics["R Squared"]["value"] == pytest.approx(r2) and metrics["R Squared"]["baselineValue"] == 0.447563
    target = client.get(f"/api/v2/deployments/{REGRESSION}/targetDrift/", headers=AUTH).json()
    assert target["sampleSize"] == len(rows) and target["driftScore"] is not None
    names: list[str] = []
    page = client.get(f"/api/v2/deployments/{REGRESSION}/featureDrift/?limit=4&metric=hellinger", headers=AUTH).json()
    while True:  # the pages chain with next, keeping the other parameters
        assert page["metric"] == "hellinger" and page["count"] == len(page["data"]) <= 4
        names += [d["name"] for d in page["data"]]
        if not page["next"]:
            break
        page = client.get(page["next"], headers=AUTH).json()
    assert sorted(names) == sorted(["age", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"])


def test_multiclass_accuracy(client):
    rows, data = scored_with_ids(client, MULTICLASS, "iris_multiclass")
    predicted = [d["prediction"] for d in data]
    labels = sorted(set(predicted) | {"setosa", "versicolor", "virginica"})
    truth = [p if i % 4 else next(x for x in labels if x != p) for i, p in enumerate(predicted)]  # every 4th wrong
    actuals = [{"associationId": 1000 + i, "actualValue": t} for i, t in enumerate(truth)]
    assert (
        client.post(
            f"/api/v2/deployments/{MULTICLASS}/actuals/fromJSON/", json={"data": actuals}, headers=AUTH
        ).status_code
        == 202
    )
    answer = client.get(f"/api/v2/deployments/{MULTICLASS}/accuracy/", headers=AUTH).json()
    metrics = {d["metric"]: d["value"] for d in answer["data"]}
    assert metrics["Accuracy"] == pytest.approx(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))
    probability = [
        next(v["value"] for v in d["predictionValues"] if v["label"] == t) for d, t in zip(data, truth, strict=True)
    ]
    assert metrics["LogLoss"] == pytest.approx(-np.mean(np.log(np.clip(probability, 1e-15, 1))), rel=1e-5)
    target = client.get(f"/api/v2/deployments/{MULTICLASS}/targetDrift/", headers=AUTH).json()
    assert target["sampleSize"] == len(rows) and target["baselineSampleSize"] == 105


def test_refused_and_ignored_inputs(client):
    base = f"/api/v2/deployments/{REGRESSION}"
    for body in (b"not json", b"[]", b'{"data": []}', b'{"data": [{"associationId": ""}]}', b'{"data": [1]}'):
        answer = client.post(f"{base}/actuals/fromJSON/", content=body, headers=AUTH)
        assert answer.status_code == 400 and answer.json()["message"], body
    too_many = {"data": [{"associationId": str(i), "actualValue": 1} for i in range(10_001)]}
    assert client.post(f"{base}/actuals/fromJSON/", json=too_many, headers=AUTH).status_code == 400
    assert client.get(f"{base}/monitoringStatus/nope/", headers=AUTH).status_code == 404
    assert client.get("/api/v2/deployments/ffffffffffffffffffffffff/serviceStats/", headers=AUTH).status_code == 404
    assert client.patch(f"{base}/settings/", json={"other": 1}, headers=AUTH).status_code == 400
    assert (
        client.get(
            f"{base}/serviceStats/?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z", headers=AUTH
        ).status_code
        == 400
    )
    # requests for ids that are not deployments leave nothing behind
    client.post(url("ffffffffffffffffffffffff"), content=b"a\n1\n", headers=CSV)
    client.sink.flush()  # type: ignore[attr-defined]
    root = client.app.state.service.storage.root  # type: ignore[attr-defined]
    assert not (root / "monitoring" / "ffffffffffffffffffffffff").exists()
