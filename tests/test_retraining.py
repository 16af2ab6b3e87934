"""Retraining end to end: the gallery's retraining job trains on the bundled dataset, its candidate
is published, a policy promotes it (or records why not), and predictions come from the new version."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from conftest import AUTH, BINARY, BINARY_MODEL, DEMO_BUCKET, sample, url
from drcompat.errors import BadRequest
from drcompat.jobs.publish import rollback
from drcompat.jobs.service import JobService
from drcompat.jobs.templates import GALLERY
from drcompat.storage import LocalStorage

CSV = {**AUTH, "Content-Type": "text/csv"}
DATASET = DEMO_BUCKET / "datasets" / "diabetes_binary.csv"


def retraining_job(service: JobService, **values: object) -> dict:
    files = {p.name: p.read_bytes() for p in (GALLERY / "retraining").iterdir() if p.is_file()}
    settings = {"TRAINING_DATA": str(DATASET), "TARGET": "progression_high", "TARGET_TYPE": "Binary", **values}
    return service.create_job("retrain diabetes", files, runtimeParameterValues=settings, timeoutSeconds=600)


@pytest.fixture
def jobs(bucket) -> JobService:
    return JobService(LocalStorage(bucket), endpoint="http://127.0.0.1:8080/predApi/v1.0")


def test_policy_run_publishes_and_promotes_then_predictions_use_it(jobs, client, bucket):
    before = client.post(url(BINARY), content=sample("diabetes_binary"), headers=CSV)
    assert before.headers["X-DataRobot-Model-Id"] == BINARY_MODEL
    job = retraining_job(jobs)
    policy = jobs.attach_policy(BINARY, job["id"], "rate(1 day)", tolerance=0.2)
    lines: list[str] = []
    run = jobs.run_policy(policy["id"], on_line=lines.append)
    log = jobs.run_log(job["id"], run["id"])
    assert run["status"] == "succeeded", log
    assert "retraining for deployment: " + BINARY in log and "holdout accuracy" in log
    assert run["decision"]["accepted"] is True, run["decision"]
    new_model = run["candidateModelId"]
    assert new_model != BINARY_MODEL and (bucket / "models" / new_model / "model.onnx").is_file()
    after = client.post(url(BINARY), content=sample("diabetes_binary"), headers=CSV)
    assert after.status_code == 200
    assert after.headers["X-DataRobot-Model-Id"] == new_model
    assert len(after.json()["data"]) == 20
    registry = yaml.safe_load((bucket / "deployments.yaml").read_text())
    assert registry["deployments"][BINARY]["previousModelIds"][0] == BINARY_MODEL
    assert jobs.get_policy(policy["id"])["lastRunId"] == run["id"]
    # the previous version stays for rollback
    assert rollback(LocalStorage(bucket), BINARY) == BINARY_MODEL
    assert (
        client.post(url(BINARY), content=sample("diabetes_binary"), headers=CSV).headers["X-DataRobot-Model-Id"]
        == BINARY_MODEL
    )


def test_incompatible_candidate_is_rejected_and_the_deployment_untouched(jobs, bucket):
    registry_before = (bucket / "deployments.yaml").read_bytes()
    job = retraining_job(jobs, TARGET_TYPE="Regression")
    policy = jobs.attach_policy(BINARY, job["id"], "rate(1 day)")
    run = jobs.run_policy(policy["id"])
    assert run["status"] == "succeeded"
    assert run["decision"]["accepted"] is False
    assert "target type Regression differs" in run["decision"]["reason"]
    assert (bucket / "deployments.yaml").read_bytes() == registry_before
    assert "rejected" in jobs.run_log(job["id"], run["id"])


def test_worse_candidate_is_rejected_by_the_metric_tolerance(jobs, bucket):
    path = bucket / "models" / BINARY_MODEL / "model.yaml"
    meta = yaml.safe_load(path.read_text())
    meta["holdout"]["value"] = 0.99  # pretend the current model is excellent
    meta.pop("sha256")
    path.write_text(yaml.safe_dump(meta))
    run = jobs.run_policy(jobs.attach_policy(BINARY, retraining_job(jobs)["id"], "rate(1 day)", tolerance=0.01)["id"])
    assert run["decision"]["accepted"] is False
    assert "worse than the current 0.9900" in run["decision"]["reason"]


def test_requests_in_flight_during_the_swap_never_fail(jobs, client):
    job = retraining_job(jobs)
    policy = jobs.attach_policy(BINARY, job["id"], "rate(1 day)", tolerance=0.2)
    statuses: list[int] = []
    models: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            response = client.post(url(BINARY), content=sample("diabetes_binary"), headers=CSV)
            statuses.append(response.status_code)
            models.add(response.headers.get("X-DataRobot-Model-Id", ""))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        run = jobs.run_policy(policy["id"])
        for _ in range(20):  # keep going past the switch
            client.post(url(BINARY), content=sample("diabetes_binary"), headers=CSV)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert run["decision"]["accepted"] is True
    assert statuses and set(statuses) == {200}
    assert {BINARY_MODEL, run["candidateModelId"]} <= models


def test_failing_and_refused_runs_are_recorded(jobs):
    job = retraining_job(jobs, TRAINING_DATA="does-not-exist.csv")
    run = jobs.start_run(job["id"])
    assert run["status"] == "failed" and run["exitCode"] != 0
    assert "does-not-exist.csv" in jobs.run_log(job["id"], run["id"])
    refused = jobs.start_run(job["id"], values={"HOLDOUT_FRACTION": 0.9})
    assert refused["status"] == "failed" and refused["exitCode"] is None
    assert "outside" in jobs.run_log(job["id"], refused["id"])
    assert [r["id"] for r in sorted(jobs.list_runs(job["id"]), key=lambda r: r["created"])] == [
        run["id"],
        refused["id"],
    ]


def test_due_policies_follow_their_schedule(jobs):
    job = retraining_job(jobs)
    policy = jobs.attach_policy(BINARY, job["id"], "cron(0 3 * * ? *)")
    created = datetime.fromisoformat(policy["created"])
    assert jobs.due_policies(created + timedelta(minutes=1)) == [] or created.hour == 2
    next_three = (created + timedelta(days=1)).replace(hour=3, minute=0, second=0, microsecond=0)
    assert [p["id"] for p in jobs.due_policies(next_three + timedelta(minutes=1))] == [policy["id"]]
    with pytest.raises(BadRequest, match="cron"):
        jobs.attach_policy(BINARY, job["id"], "every tuesday")
    assert datetime.now(UTC) > created - timedelta(minutes=1)
