"""Retraining policies that fire on data drift or on accuracy decline, evaluated where the
scheduled runner looks for due policies; a trigger fires once per episode (data since the last run)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from conftest import AUTH, BINARY, DEMO_BUCKET, MANAGE_AUTH, add_manage_token, url
from drcompat.api import create_app
from drcompat.config import Settings
from drcompat.errors import BadRequest
from drcompat.jobs.service import JobService
from drcompat.monitoring.triggers import trigger_reason
from drcompat.storage import LocalStorage
from test_monitoring import clean_bucket

CSV = {**AUTH, "Content-Type": "text/csv"}
YEARLY = "cron(0 3 1 1 ? *)"  # never due during the test: only the trigger can make it due
TRAINING = pd.read_csv(DEMO_BUCKET / "datasets" / "diabetes_binary.csv")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[TestClient, JobService]]:
    bucket = clean_bucket(tmp_path)
    add_manage_token(bucket)  # policies are managed with a manageJobs token
    app = create_app(
        Settings(storage_root=bucket, registry_ttl_seconds=0, monitoring_enabled=True, monitoring_flush_seconds=3600)
    )
    with TestClient(app) as client:
        client.app_state = app.state  # type: ignore[attr-defined]
        yield client, JobService(LocalStorage(bucket))


def score(client: TestClient, frame: pd.DataFrame) -> None:
    answer = client.post(url(BINARY), content=frame.to_csv(index=False), headers=CSV)
    assert answer.status_code == 200, answer.text
    client.app_state.service.sink.flush()  # type: ignore[attr-defined]


def quick_job(jobs: JobService) -> dict:
    return jobs.create_job("quick", {"run.sh": b"echo retrain\n", "metadata.yaml": b"name: q\n"})


def test_drift_trigger_fires_on_drifted_inputs_once(world):
    client, jobs = world
    trigger = {"type": "dataDrift", "threshold": 0.5, "minSamples": 100}
    policy = jobs.attach_policy(BINARY, quick_job(jobs)["id"], YEARLY, trigger=trigger)
    score(client, TRAINING.sample(300, random_state=1))
    now = datetime.now(UTC) + timedelta(seconds=1)
    assert jobs.due_policies(now) == []  # inputs like the training data: no drift

    drifted = TRAINING.sample(300, random_state=2).assign(bmi=lambda f: f["bmi"] + 12)
    score(client, drifted)
    now = datetime.now(UTC) + timedelta(seconds=1)
    reason = trigger_reason(jobs.storage, jobs.get_policy(policy["id"]), now)
    assert reason is not None and "bmi" in reason
    runs = jobs.run_due_policies(now)
    assert [r["policyId"] for r in runs] == [policy["id"]] and runs[0]["status"] == "succeeded"
    assert jobs.due_policies(now + timedelta(minutes=1)) == []  # the same episode does not fire again


def test_accuracy_decline_trigger_fires_when_actuals_disagree(world):
    client, jobs = world
    patch = {"associationId": {"columnNames": ["visit"]}}
    assert client.patch(f"/api/v2/deployments/{BINARY}/settings/", json=patch, headers=AUTH).status_code == 202
    trigger = {"type": "accuracyDecline", "metric": "Accuracy", "threshold": 0.1, "minSamples": 50}
    policy = jobs.attach_policy(BINARY, quick_job(jobs)["id"], YEARLY, trigger=trigger)
    rows = TRAINING.sample(80, random_state=3).assign(visit=[f"a{i}" for i in range(80)])
    answer = client.post(url(BINARY), content=rows.to_csv(index=False), headers=CSV)
    client.app_state.service.sink.flush()  # type: ignore[attr-defined]
    predicted = [a["prediction"] for a in answer.json()["data"]]
    agreeing = [{"associationId": f"a{i}", "actualValue": p} for i, p in enumerate(predicted)]
    assert (
        client.post(
            f"/api/v2/deployments/{BINARY}/actuals/fromJSON/", json={"data": agreeing}, headers=AUTH
        ).status_code
        == 202
    )
    now = datetime.now(UTC) + timedelta(seconds=1)
    assert trigger_reason(jobs.storage, jobs.get_policy(policy["id"]), now) is None  # 100% accurate

    wrong = [{"associationId": f"a{i}", "actualValue": 1 - p} for i, p in enumerate(predicted)]
    assert (
        client.post(f"/api/v2/deployments/{BINARY}/actuals/fromJSON/", json={"data": wrong}, headers=AUTH).status_code
        == 202
    )
    reason = trigger_reason(jobs.storage, jobs.get_policy(policy["id"]), datetime.now(UTC) + timedelta(seconds=1))
    assert reason is not None and reason.startswith("Accuracy 0.0000")


def test_bad_triggers_are_refused(world):
    _, jobs = world
    job = quick_job(jobs)
    for bad in ({"type": "weather"}, {"type": "dataDrift", "threshold": -1}, {"type": "dataDrift", "metric": "x"}):
        with pytest.raises(BadRequest):
            jobs.attach_policy(BINARY, job["id"], YEARLY, trigger=bad)


def test_policies_api_takes_a_trigger(world):
    client, jobs = world
    job = quick_job(jobs)
    path = f"/api/v2/deployments/{BINARY}/retrainingPolicies/"
    body = {"jobId": job["id"], "schedule": YEARLY, "trigger": {"type": "dataDrift", "threshold": 0.2}}
    created = client.post(path, json=body, headers=MANAGE_AUTH)
    assert created.status_code == 201 and created.json()["trigger"] == {"type": "dataDrift", "threshold": 0.2}
    refused = client.post(
        path, json={**body, "trigger": {"type": "dataDrift", "threshold": "high"}}, headers=MANAGE_AUTH
    )
    assert refused.status_code == 400 and "threshold" in refused.json()["message"]
