"""What the client's job schedules and settings do behind the API: a schedule fires from the local
loop with its overrides and becomes an EventBridge schedule in AWS, retraining policies change
and go, a job's resource bundle limits its memory, and deleting a job takes its schedules along."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import boto3
import pytest
from fastapi.testclient import TestClient

from conftest import BINARY, MANAGE_AUTH
from drcompat.api import create_app
from drcompat.errors import NotFound
from drcompat.jobs.client_shape import cron_from_schedule
from drcompat.jobs.scheduler import LocalPolicyLoop
from drcompat.jobs.service import JobService
from drcompat.storage import LocalStorage

JOBS = "/api/v2/customJobs"
ECHO = {"run.sh": b'echo "word=$MLOPS_RUNTIME_PARAM_WORD"\n'}
METADATA = b"name: e\nruntimeParameterDefinitions:\n- fieldName: WORD\n  type: string\n  defaultValue: plain\n"


@pytest.fixture
def jobs(bucket) -> JobService:
    return JobService(LocalStorage(bucket))


def test_client_schedules_become_eventbridge_cron():
    every = {"month": ["*"], "dayOfMonth": ["*"]}
    assert cron_from_schedule({"minute": [0], "hour": [3], "dayOfWeek": [0, 6], **every}) == "cron(0 3 ? * 1,7 *)"
    assert cron_from_schedule({"minute": ["*"], "hour": ["*"], "dayOfWeek": ["*"], **every}) == "cron(* * * * ? *)"
    day = {"minute": [30], "hour": [1], "dayOfMonth": [1, 15], "month": ["*"], "dayOfWeek": ["*"]}
    assert cron_from_schedule(day) == "cron(30 1 1,15 * ? *)"


def test_a_job_schedule_fires_locally_with_its_overrides_and_goes_with_the_job(jobs):
    job = jobs.create_job("echo", {**ECHO, "metadata.yaml": METADATA})
    schedule = jobs.create_schedule(job["id"], "cron(0 3 * * ? *)", {}, {"WORD": "scheduled"})
    loop = LocalPolicyLoop(jobs, interval=3600)
    created = datetime.fromisoformat(schedule["created"])
    tomorrow = (created + timedelta(days=1)).replace(hour=3, minute=1)
    runs = loop.tick(tomorrow)
    assert [r["status"] for r in runs] == ["succeeded"]
    assert "word=" in jobs.run_log(job["id"], runs[0]["id"]) and "scheduled" in jobs.run_log(job["id"], runs[0]["id"])
    assert jobs.list_policies(BINARY) == []  # a job schedule is no deployment's retraining policy
    jobs.delete_job(job["id"])
    with pytest.raises(NotFound):
        jobs.get_policy(schedule["id"])
    assert jobs.storage.list(f"jobs/{job['id']}/") == []


def test_job_schedule_on_eventbridge_moto(s3_endpoint, bucket):
    from drcompat_lambda.schedules import PREFIX, EventBridgeSchedules

    schedules = EventBridgeSchedules(
        "arn:aws:lambda:us-east-1:123456789012:function:JobRunnerFunction",
        "arn:aws:iam::123456789012:role/drcompat-scheduler",
        endpoint_url=s3_endpoint,
    )
    jobs = JobService(LocalStorage(bucket), schedules=schedules)
    job = jobs.create_job("echo", {**ECHO, "metadata.yaml": METADATA})
    spec = {"minute": [0], "hour": [3], "dayOfMonth": ["*"], "month": ["*"], "dayOfWeek": ["*"]}
    schedule = jobs.create_schedule(job["id"], cron_from_schedule(spec), spec, {})
    client = boto3.client("scheduler", endpoint_url=s3_endpoint, region_name="us-east-1")
    found = client.get_schedule(Name=PREFIX + schedule["id"])
    assert found["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert json.loads(found["Target"]["Input"]) == {"action": "run-policy", "policyId": schedule["id"]}
    jobs.update_policy(schedule["id"], {"schedule": "cron(15 4 * * ? *)"})
    assert client.get_schedule(Name=PREFIX + schedule["id"])["ScheduleExpression"] == "cron(15 4 * * ? *)"
    jobs.delete_job(job["id"])
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_schedule(Name=PREFIX + schedule["id"])


def test_retraining_policy_update_and_delete_over_http(settings, manage_auth):
    with TestClient(create_app(settings)) as api:
        job = api.post(f"{JOBS}/", json={"name": "r"}, headers=MANAGE_AUTH).json()
        policies = f"/api/v2/deployments/{BINARY}/retrainingPolicies/"
        policy = api.post(policies, json={"jobId": job["id"], "schedule": "rate(1 day)"}, headers=MANAGE_AUTH).json()
        changed = api.patch(
            f"{policies}{policy['id']}/", json={"schedule": "rate(2 days)", "tolerance": 0.1}, headers=MANAGE_AUTH
        )
        assert changed.status_code == 200 and changed.json()["schedule"] == "rate(2 days)"
        assert changed.json()["tolerance"] == 0.1
        bad = api.patch(f"{policies}{policy['id']}/", json={"schedule": "weekly"}, headers=MANAGE_AUTH)
        assert bad.status_code == 400 and "rate" in bad.json()["message"]
        bad = api.patch(f"{policies}{policy['id']}/", json={"deploymentId": "x"}, headers=MANAGE_AUTH)
        assert bad.status_code == 400 and "deploymentId" in bad.json()["message"]
        assert api.delete(f"{policies}{policy['id']}/", headers=MANAGE_AUTH).status_code == 204
        assert api.get(policies, headers=MANAGE_AUTH).json()["totalCount"] == 0
        assert api.delete(f"{policies}{policy['id']}/", headers=MANAGE_AUTH).status_code == 404


def test_resource_bundle_limits_memory_and_threads(jobs):
    script = (
        b'echo "threads=$OMP_NUM_THREADS"\n'
        b"python3 -c 'b = bytearray(1536 * 1024 * 1024); print(\"allocated\")' || echo refused-memory\n"
    )
    job = jobs.create_job("mem", {"run.sh": script, "metadata.yaml": b"name: m\n"}, resourceBundleId="cpu.micro")
    run = jobs.start_run(job["id"])
    log = jobs.run_log(job["id"], run["id"])
    assert "threads=1" in log and "refused-memory" in log and "allocated" not in log
    jobs.update_job(job["id"], resourceBundleId="cpu.large")
    run = jobs.start_run(job["id"])
    assert "allocated" in jobs.run_log(job["id"], run["id"])


def test_unknown_bundle_or_environment_is_refused(jobs):
    with pytest.raises(NotFound):
        jobs.create_job("x", resourceBundleId="gpu.huge")
    with pytest.raises(NotFound):
        jobs.create_job("x", environmentId="65f1f0000000000000000001", environmentVersionId="ffffffffffffffffffffffff")


def test_default_network_access_is_an_admin_setting(bucket, tmp_path, manage_auth):
    from drcompat.config import Settings

    settings = Settings(storage_root=bucket, credentials_file=tmp_path / "c.yaml", job_default_network="none")
    with TestClient(create_app(settings)) as api:
        closed = api.post(f"{JOBS}/", json={"name": "quiet"}, headers=MANAGE_AUTH).json()
        opened = api.post(f"{JOBS}/", json={"name": "loud", "networkAccess": "public"}, headers=MANAGE_AUTH).json()
    assert closed["networkAccess"] == "none" and opened["networkAccess"] == "public"
    assert JobService(LocalStorage(bucket)).create_job("default")["networkAccess"] == "public"


def tiny_wheel(folder) -> None:
    """A real wheel of one module, so pip installs it with no network (PIP_NO_INDEX, PIP_FIND_LINKS)."""
    import base64
    import hashlib
    import zipfile

    files = {
        "drctiny.py": b"VALUE = 42\n",
        "drctiny-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: drctiny\nVersion: 1.0\n",
        "drctiny-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = ""
    for name, content in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
        record += f"{name},sha256={digest},{len(content)}\n"
    record += "drctiny-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(folder / "drctiny-1.0-py3-none-any.whl", "w") as wheel:
        for name, content in files.items():
            wheel.writestr(name, content)
        wheel.writestr("drctiny-1.0.dist-info/RECORD", record)


def test_requirements_are_installed_for_the_run_and_found_in_the_sandbox(jobs, tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    tiny_wheel(wheels)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    files = {
        "run.sh": b"python3 -c 'import drctiny; print(\"tiny\", drctiny.VALUE)'\n",
        "metadata.yaml": b"name: t\n",
        "requirements.txt": b"# what the job needs\ndrctiny==1.0\n",
    }
    job = jobs.create_job("tiny", files)
    run = jobs.start_run(job["id"])
    log = jobs.run_log(job["id"], run["id"])
    assert run["status"] == "succeeded", log
    assert "installed requirements.txt (1 package(s))" in log and "tiny 42" in log
    jobs.put_file(job["id"], "requirements.txt", b"drctiny==9.9\n")  # not to be found: a clear failure
    run = jobs.start_run(job["id"])
    assert run["status"] == "failed" and "Installing requirements.txt failed" in jobs.run_log(job["id"], run["id"])
