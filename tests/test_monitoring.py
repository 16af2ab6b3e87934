"""Monitoring end to end through DataRobot's official client: association ids, scored rows,
actuals, then service stats, drift and accuracy that must agree with what was sent (the expected
numbers are computed here from the responses and model.yaml, independently of the service)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import datarobot as dr
import numpy as np
import pandas as pd
import pytest
import requests
import uvicorn
import yaml
from datarobot.errors import ClientError

from conftest import BINARY, BINARY_MODEL, DEMO_BUCKET, SAMPLES, TOKEN, free_port
from drcompat.api import create_app
from drcompat.config import Settings
from s3_server import make_bucket, upload_tree

AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Served:
    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.port = free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def flush(self) -> None:
        self.app.state.service.sink.flush()

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def clean_bucket(tmp_path: Path) -> Path:
    target = tmp_path / "bucket"
    shutil.copytree(DEMO_BUCKET, target, ignore=shutil.ignore_patterns("monitoring"))
    return target


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Served]:
    settings = Settings(
        storage_root=clean_bucket(tmp_path),
        registry_ttl_seconds=0.0,
        monitoring_enabled=True,
        monitoring_flush_seconds=3600,
    )
    with Served(settings) as served:
        yield served


@pytest.fixture
def on_s3(s3_endpoint: str, tmp_path: Path) -> Iterator[Served]:
    name = f"drcompat-monitoring-{time.monotonic_ns()}"
    client = make_bucket(s3_endpoint, name)
    upload_tree(client, name, clean_bucket(tmp_path), "prod/")
    settings = Settings(
        storage_backend="s3",
        bucket=name,
        bucket_prefix="prod",
        s3_endpoint_url=s3_endpoint,
        model_download_dir=tmp_path / "dl",
        registry_ttl_seconds=0,
        monitoring_enabled=True,
        monitoring_flush_seconds=3600,
    )
    with Served(settings) as served:
        yield served


def model_yaml() -> dict[str, Any]:
    return yaml.safe_load((DEMO_BUCKET / "models" / BINARY_MODEL / "model.yaml").read_text())


def psi(seen: np.ndarray, baseline: np.ndarray) -> float:
    p = np.maximum(seen / seen.sum(), 1e-4)
    q = np.maximum(baseline / baseline.sum(), 1e-4)
    return float(((p - q) * np.log(p / q)).sum())


def histogram(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Counts below the first edge, between edges (left-closed), above the last; then missing (0)."""
    inner = np.histogram(values, bins=[-np.inf, *edges, np.inf])[0]
    # np.histogram bins are [a, b): the same as searchsorted(side="right") except at exact edges
    exact = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    assert inner.sum() == exact.sum()
    return np.append(exact, 0)


def run_scenario(served: Served) -> None:
    dr.Client(endpoint=f"{served.url}/api/v2", token=TOKEN)
    deployment = dr.Deployment(id=BINARY)
    deployment.update_association_id_settings(column_names=["visit"], required_in_prediction_requests=True)
    assert deployment.get_association_id_settings() == {
        "column_names": ["visit"],
        "required_in_prediction_requests": True,
    }

    rows = pd.read_csv(SAMPLES / "diabetes_binary.csv")
    rows["visit"] = [f"v-{i}" for i in range(len(rows))]
    scoring = f"{served.url}/predApi/v1.0/deployments/{BINARY}/predictions"
    csv = {**AUTH, "Content-Type": "text/csv"}
    first = requests.post(scoring, data=rows.iloc[:12].to_csv(index=False), headers=csv, timeout=30)
    second = requests.post(scoring, data=rows.iloc[12:].to_csv(index=False), headers=csv, timeout=30)
    assert first.status_code == second.status_code == 200
    missing = requests.post(scoring, data=rows.drop(columns="visit").to_csv(index=False), headers=csv, timeout=30)
    assert missing.status_code == 400 and "visit" in missing.json()["message"]
    refused = requests.post(scoring, data="a\n1\n", headers={"Authorization": "Bearer nope"}, timeout=30)
    assert refused.status_code == 401
    served.flush()

    answers = first.json()["data"] + second.json()["data"]
    probability = np.array([next(v["value"] for v in a["predictionValues"] if v["label"] == 1) for a in answers])
    truth = (np.arange(len(rows)) % 3 == 0).astype(int)  # actuals we make up, sent below
    deployment.submit_actuals(
        [{"association_id": f"v-{i}", "actual_value": int(t)} for i, t in enumerate(truth)], batch_size=7
    )

    stats = deployment.get_service_stats()
    assert stats.metrics["totalPredictions"] == len(rows)
    assert stats.metrics["totalRequests"] == 4
    assert stats.metrics["userErrorRate"] == pytest.approx(2 / 4)
    assert stats.metrics["serverErrorRate"] == 0
    assert stats.metrics["numConsumers"] == 1
    assert stats.metrics["cacheHitRatio"] == pytest.approx(2 / 3)  # the first load misses, then hits
    assert stats.metrics["responseTime"] > 0 and stats.metrics["executionTime"] > 0
    over_time = deployment.get_service_stats_over_time(metric="totalRequests", bucket_size="PT1H")
    assert sum(b["value"] for b in over_time.buckets) == 4 and over_time.summary["value"] == 4

    baseline = model_yaml()["monitoringBaseline"]
    target = deployment.get_target_drift()
    expected = psi(
        histogram(probability, baseline["predictions"]["edges"]), np.array([*baseline["predictions"]["counts"], 0])
    )
    assert target.sample_size == len(rows) and target.baseline_sample_size == baseline["rows"]
    assert target.drift_score == pytest.approx(expected) and target.metric == "psi"

    features = deployment.get_feature_drift()
    names = [f.name for f in features]
    assert sorted(names) == sorted(baseline["features"])
    assert all(f.drift_score is not None and f.sample_size == len(rows) for f in features)
    assert all(f.feature_impact == baseline["featureImpact"][f.name] for f in features)
    bmi = next(f for f in features if f.name == "bmi")
    hist = baseline["features"]["bmi"]
    assert bmi.drift_score == pytest.approx(
        psi(histogram(rows["bmi"].to_numpy(), hist["edges"]), np.array([*hist["counts"], 0]))
    )

    accuracy = deployment.get_accuracy()
    metrics = {d["metric"]: d for d in accuracy.data}
    p = np.clip(probability, 1e-15, 1 - 1e-15)
    logloss = -np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p))
    assert metrics["LogLoss"]["value"] == pytest.approx(logloss)
    assert metrics["Accuracy"]["value"] == pytest.approx(np.mean((probability >= 0.5) == truth))
    assert metrics["Accuracy"]["baseline_value"] == model_yaml()["holdout"]["value"]
    assert metrics["LogLoss"]["sample_size"] == len(rows)
    over = deployment.get_accuracy_over_time(metric="LogLoss", bucket_size="PT1H")
    assert over.summary["value"] == pytest.approx(logloss)
    assert sum(b["sample_size"] for b in over.buckets) == len(rows)


def test_official_client_sees_what_was_sent_local(local):
    run_scenario(local)
    keys = [
        p.relative_to(local.app.state.service.storage.root).as_posix()
        for p in local.app.state.service.storage.root.rglob("monitoring/*/aggregates/date=*/hour=*/*.jsonl")
    ]
    assert keys and all(k.startswith(f"monitoring/{BINARY}/aggregates/date=") for k in keys)


def test_official_client_sees_what_was_sent_on_s3(on_s3, s3_endpoint):
    run_scenario(on_s3)
    settings = on_s3.app.state.service.settings
    listed = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").list_objects_v2(
        Bucket=settings.bucket, Prefix=f"prod/monitoring/{BINARY}/associations/"
    )
    assert listed["KeyCount"] >= 1


def test_periods_outside_the_traffic_are_empty_and_bad_params_are_400(local):
    dr.Client(endpoint=f"{local.url}/api/v2", token=TOKEN)
    scoring = f"{local.url}/predApi/v1.0/deployments/{BINARY}/predictions"
    body = (SAMPLES / "diabetes_binary.csv").read_bytes()
    assert requests.post(scoring, data=body, headers={**AUTH, "Content-Type": "text/csv"}, timeout=30).ok
    local.flush()
    deployment = dr.Deployment(id=BINARY)
    past = deployment.get_service_stats(start_time=pd.Timestamp("2020-01-01"), end_time=pd.Timestamp("2020-01-02"))
    assert past.metrics["totalPredictions"] == 0
    assert (
        deployment.get_target_drift(
            start_time=pd.Timestamp("2020-01-01"), end_time=pd.Timestamp("2020-01-02")
        ).drift_score
        is None
    )
    base = f"{local.url}/api/v2/deployments/{BINARY}"
    for path, query in [
        ("serviceStats/", "start=yesterday"),
        ("serviceStatsOverTime/", "bucketSize=PT5M"),
        ("featureDrift/", "metric=nope"),
        ("accuracyOverTime/", "metric=RMSE"),
    ]:
        answer = requests.get(f"{base}/{path}?{query}", headers=AUTH, timeout=30)
        assert answer.status_code == 400 and "message" in answer.json(), (path, answer.text)
    with pytest.raises(ClientError):
        deployment.submit_actuals([{"association_id": "x", "actual_value": None}])
    bad = requests.patch(
        f"{base}/settings/", json={"associationId": {"columnNames": ["a", "b"]}}, headers=AUTH, timeout=30
    )
    assert bad.status_code == 400
    other = requests.get(f"{base}/serviceStats/", headers={"Authorization": "Bearer nope"}, timeout=30)
    assert other.status_code == 401


@pytest.mark.parametrize("labels", [("female", "male"), ("male", "", "x"), ("a",)])
def test_text_bins_count_as_numpy_strings_do(labels):
    """Text columns are coded by a dict lookup per cell; the counts are those of numpy's strings."""
    import numpy as np

    from drcompat.monitoring.baseline import Bins

    bins = Bins("sex", labels=labels)
    rng = np.random.default_rng(len(labels))
    pool = ["male", "female", "", "x", "é", "MALE", "male ", "1", "nan", "a"]
    for rows in (1, 7, 1000):
        values = np.array(list(rng.choice(pool, rows)), dtype=object)
        assert bins.count(values).tolist() == bins.count(values.astype(str)).tolist()
    with_nul = np.array(["male\x00", "male", ""], dtype=object)  # numpy drops trailing NULs: the old way
    assert bins.count(with_nul).tolist() == bins.count(with_nul.astype(str)).tolist()


def test_text_bins_count_repeated_labels_and_odd_cells():
    """Labels repeated after str() (1 and "1" in the training values) and cells that are not
    plain strings are still counted; pandas' Categorical refused the first and warns on the second."""
    import warnings

    import numpy as np

    from drcompat.monitoring.baseline import Bins

    values = np.array(["1", "b", "c", "", None, float("nan"), 1, "b\x00"], dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # bins: "1" (the repeated label's last place), "b", other, missing
        assert Bins("x", labels=("1", "1", "b")).count(values).tolist() == [0, 2, 2, 1, 3]
        assert Bins("x", labels=("1", "b")).count(values).tolist() == [2, 2, 1, 3]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_numeric_bins_count_as_searchsorted_does(dtype):
    """Few edges are counted by comparison passes: the same counts as the binary search, with
    cells exactly on an edge falling above it, infinities in the end bins and NaN as missing."""
    import numpy as np

    from drcompat.monitoring.baseline import FEW_EDGES, Bins

    edges = (-2.0, -0.5, 0.0, 0.0, 0.1, 1.0, 3.0)
    bins, wide = Bins("x", edges=edges), Bins("x", edges=tuple(np.linspace(-3, 3, FEW_EDGES + 5).tolist()))
    rng = np.random.default_rng(3)
    cells = np.concatenate([rng.normal(size=500) * 2, edges, [-0.0]])
    if dtype != "int64":
        cells = np.concatenate([cells, [np.inf, -np.inf, np.nan, np.nan]])
    values = cells.astype(dtype)
    for b in (bins, wide):
        numbers = values.astype(np.float64)
        index = np.searchsorted(np.asarray(b.edges), numbers, side="right")
        index[np.isnan(numbers)] = b.size - 1
        expected = np.bincount(index, minlength=b.size).tolist()
        assert b.count(values).tolist() == expected
    assert bins.count(values)[-1] == (2 if dtype != "int64" else 0)
