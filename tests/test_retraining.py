"""Retraining end to end: the gallery's retraining job trains on the bundled dataset, its candidate
is published, a policy promotes it (or records why not), and predictions come from the new version."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

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
    registry_before = yaml.safe_load((bucket / "deployments.yaml").read_text())
    job = retraining_job(jobs, TARGET_TYPE="Regression")
    policy = jobs.attach_policy(BINARY, job["id"], "rate(1 day)")
    run = jobs.run_policy(policy["id"])
    assert run["status"] == "succeeded"
    assert run["decision"]["accepted"] is False
    assert "target type Regression differs" in run["decision"]["reason"]
    registry_after = yaml.safe_load((bucket / "deployments.yaml").read_text())
    for part in ("deployments", "tokens"):  # run token revoked too; only the revision moved
        assert registry_after[part] == registry_before[part]
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
    from drcompat.jobs.schedule import parse_schedule

    job = retraining_job(jobs)
    policy = jobs.attach_policy(BINARY, job["id"], "cron(0 3 * * ? *)")
    fires = parse_schedule(policy["schedule"]).next_after(datetime.fromisoformat(policy["created"]))
    assert (fires.hour, fires.minute) == (3, 0)
    assert jobs.due_policies(fires - timedelta(minutes=1)) == []
    assert [p["id"] for p in jobs.due_policies(fires + timedelta(minutes=1))] == [policy["id"]]
    with pytest.raises(BadRequest, match="cron"):
        jobs.attach_policy(BINARY, job["id"], "every tuesday")


def test_job_calls_the_service_back_with_a_token_for_its_deployment_only(bucket, settings):
    """A real uvicorn server; the job's run.sh posts to it with the variables it was given."""
    import shutil
    import socket
    import threading as th

    import uvicorn

    from drcompat.api import create_app

    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = th.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        jobs = JobService(LocalStorage(bucket), endpoint=f"http://127.0.0.1:{port}/predApi/v1.0")
        (bucket / "sample.csv").write_bytes(sample("diabetes_binary"))
        script = (
            'echo "token: $DATAROBOT_API_TOKEN"\n'
            f'curl -s -o own.json -w "own %{{http_code}}\\n" -H "Authorization: Bearer $DATAROBOT_API_TOKEN" '
            f'-F file=@{bucket}/sample.csv "$DATAROBOT_ENDPOINT/deployments/$DEPLOYMENT_ID/predictions"\n'
            f'curl -s -o /dev/null -w "other %{{http_code}}\\n" -H "Authorization: Bearer $DATAROBOT_API_TOKEN" '
            f'-F file=@{bucket}/sample.csv "$DATAROBOT_ENDPOINT/deployments/65f1a0000000000000000002/predictions"\n'
        )
        job = jobs.create_job("callback", {"run.sh": script.encode(), "metadata.yaml": b"name: callback\n"})
        run = jobs.start_run(job["id"], deployment_id=BINARY)
        log = jobs.run_log(job["id"], run["id"])
        assert run["status"] == "succeeded", log
        assert "own 200" in log and "other 403" in log
        assert "token: *****" in log  # the token itself never reaches the log
        registry = yaml.safe_load((bucket / "deployments.yaml").read_text())
        assert not [name for name in registry["tokens"] if name.startswith("run-")]  # revoked
    finally:
        server.should_exit = True
        thread.join(5)


def test_artifacts_and_metrics_are_recorded_per_run(jobs):
    script = (
        b'mkdir -p "$DRC_OUTPUT_DIR/artifacts"\n'
        b'echo report > "$DRC_OUTPUT_DIR/artifacts/report.txt"\n'
        b'echo \'{"rows": 442}\' > "$DRC_OUTPUT_DIR/metrics.json"\n'
    )
    job = jobs.create_job("artifacts", {"run.sh": script, "metadata.yaml": b"name: a\n"}, tags={"team": "risk"})
    run = jobs.start_run(job["id"])
    assert run["status"] == "succeeded"
    assert run["artifacts"] == ["report.txt"] and run["metrics"] == {"rows": 442} and run["tags"] == {"team": "risk"}
    assert jobs.storage.read(f"jobs/{job['id']}/runs/{run['id']}/artifacts/report.txt") == b"report\n"


def test_local_policy_loop_runs_what_is_due(jobs):
    from drcompat.jobs.scheduler import LocalPolicyLoop

    job = jobs.create_job("quick", {"run.sh": b"echo policy run\n", "metadata.yaml": b"name: q\n"})
    policy = jobs.attach_policy(BINARY, job["id"], "rate(5 minutes)")
    loop = LocalPolicyLoop(jobs, interval=3600)
    created = datetime.fromisoformat(policy["created"])
    assert loop.tick(created + timedelta(minutes=1)) == []
    runs = loop.tick(created + timedelta(minutes=6))
    assert [r["status"] for r in runs] == ["succeeded"] and runs[0]["policyId"] == policy["id"]
    assert loop.tick(created + timedelta(minutes=7)) == []  # ran; next one is due 5 minutes after that run
    loop.start()
    loop.stop()
