"""The custom-jobs HTTP API end to end: create, upload, settings, runs, logs, policies, rollback."""

from __future__ import annotations

import io
import sys
import time
import zipfile

import pytest
import yaml
from fastapi.testclient import TestClient

from conftest import AUTH, BINARY, BINARY_MODEL, DEMO_BUCKET, MANAGE_AUTH, add_manage_token, sample, url
from drcompat.api import create_app
from drcompat.config import Settings
from drcompat.jobs.credentials import LocalCredentialStore
from drcompat.jobs.templates import GALLERY

JOBS = "/api/v2/customJobs"
CSV = {**AUTH, "Content-Type": "text/csv"}
MANAGE = MANAGE_AUTH


@pytest.fixture(autouse=True)
def _manager(bucket):
    add_manage_token(bucket)


def wait_for(client, job_id: str, run_id: str, seconds: float = 120) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = client.get(f"{JOBS}/{job_id}/runs/{run_id}/", headers=MANAGE).json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.1)
    raise AssertionError("the run did not finish")


def sample_files() -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("file", (p.name, p.read_bytes(), "application/octet-stream"))
        for p in (GALLERY / "sample").iterdir()
        if p.is_file()
    ]


def test_create_upload_run_and_read_the_log(bucket, tmp_path):
    store = LocalCredentialStore(tmp_path / "credentials.yaml")
    store.put("reporting", {"credentialType": "api_token", "apiToken": "tok-abc-987"})
    settings = Settings(storage_root=bucket, registry_ttl_seconds=0.0, credentials_file=store.path)
    with TestClient(create_app(settings)) as client:
        _create_upload_run_and_read_the_log(client)


def _create_upload_run_and_read_the_log(client):
    created = client.post(f"{JOBS}/", json={"name": "sample", "networkAccess": "none"}, headers=MANAGE)
    assert created.status_code == 201, created.text
    job = created.json()
    uploaded = client.post(f"{JOBS}/{job['id']}/items/", files=sample_files(), headers=MANAGE)
    assert uploaded.status_code == 200
    assert {i["filePath"] for i in uploaded.json()["items"]} == {"run.sh", "metadata.yaml", "README.md", "job.py"}
    # replace run.sh (same name replaces) so it uses this interpreter
    script = (GALLERY / "sample" / "run.sh").read_text().replace("python3", sys.executable)
    client.post(f"{JOBS}/{job['id']}/items/", files={"file": ("run.sh", script.encode())}, headers=MANAGE)
    assert client.get(f"{JOBS}/{job['id']}/items/run.sh", headers=MANAGE).text == script
    values = {
        "runtimeParameterValues": {
            "repeat": 3,
            "api_credential": "reporting",  # by name: the store holds the values
        }
    }
    started = client.post(f"{JOBS}/{job['id']}/runs/", json=values, headers=MANAGE)
    assert started.status_code == 202 and started.json()["status"] == "running"
    run = wait_for(client, job["id"], started.json()["id"])
    assert run["status"] == "succeeded", client.get(f"{JOBS}/{job['id']}/runs/{run['id']}/logs/", headers=MANAGE).text
    log = client.get(f"{JOBS}/{job['id']}/runs/{run['id']}/logs/", headers=MANAGE).text
    assert log.count("Hello from a custom job") == 3 + 1  # three prints and the parameter line
    assert "tok-abc-987" not in log
    listed = client.get(f"{JOBS}/{job['id']}/runs/", headers=MANAGE).json()
    assert listed["count"] == 1
    assert client.get(f"{JOBS}/", headers=MANAGE).json()["count"] == 1


def test_settings_archive_and_bad_inputs(client):
    job = client.post(f"{JOBS}/", json={"name": "j"}, headers=MANAGE).json()
    patched = client.patch(f"{JOBS}/{job['id']}/", json={"timeoutSeconds": 5, "tags": {"team": "risk"}}, headers=MANAGE)
    assert (
        patched.status_code == 200
        and patched.json()["timeoutSeconds"] == 5
        and patched.json()["tags"] == {"team": "risk"}
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("run.sh", "echo from the archive\n")
        bundle.writestr("metadata.yaml", "name: zipped\n")
        bundle.writestr("lib/util.sh", "echo util\n")
    uploaded = client.post(
        f"{JOBS}/{job['id']}/items/", files={"archive": ("job.zip", archive.getvalue())}, headers=MANAGE
    )
    assert {i["filePath"] for i in uploaded.json()["items"]} == {"run.sh", "metadata.yaml", "lib/util.sh"}
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as bundle:
        bundle.writestr("../../outside.sh", "echo no\n")
    refused = client.post(
        f"{JOBS}/{job['id']}/items/", files={"archive": ("evil.zip", evil.getvalue())}, headers=MANAGE
    )
    assert refused.status_code == 400 and "outside the job" in refused.json()["message"]
    bad_meta = client.post(
        f"{JOBS}/{job['id']}/items/",
        files={"file": ("metadata.yaml", b"runtimeParameterDefinitions:\n- fieldName: a\n  type: wrong\n")},
        headers=MANAGE,
    )
    assert bad_meta.status_code == 400 and "line 2" in bad_meta.json()["message"]
    for body, words in [
        ({"networkAccess": "sometimes"}, "networkAccess"),
        ({"timeoutSeconds": -1}, "timeoutSeconds"),
        ({"colour": "red"}, "colour"),
    ]:
        response = client.patch(f"{JOBS}/{job['id']}/", json=body, headers=MANAGE)
        assert response.status_code == 400 and words in response.json()["message"]
    assert client.post(f"{JOBS}/", content=b"{not json", headers=MANAGE).status_code == 400
    assert client.get(f"{JOBS}/ffffffffffffffffffffffff/", headers=MANAGE).status_code == 404
    assert client.get(f"{JOBS}/../../etc/", headers=MANAGE).status_code in (400, 404)


def test_only_job_managers_may_use_it(client, bucket):
    assert client.get(f"{JOBS}/").status_code == 401
    response = client.get(f"{JOBS}/", headers=AUTH)  # the public demo token never manages jobs
    assert response.status_code == 403 and "manageJobs" in response.json()["message"]
    assert client.get(f"{JOBS}/", headers=MANAGE).status_code == 200
    shipped = yaml.safe_load((DEMO_BUCKET / "deployments.yaml").read_text())
    assert not [name for name, entry in shipped["tokens"].items() if entry.get("manageJobs")]


def test_retraining_policy_over_http_then_rollback(client):
    job = client.post(
        f"{JOBS}/",
        json={
            "name": "retrain",
            "runtimeParameterValues": {
                "TRAINING_DATA": "train.csv",
                "TARGET": "progression_high",
                "TARGET_TYPE": "Binary",
            },
        },
        headers=MANAGE,
    ).json()
    files = [("file", (p.name, p.read_bytes())) for p in (GALLERY / "retraining").iterdir() if p.is_file()]
    files.append(("file", ("train.csv", (DEMO_BUCKET / "datasets" / "diabetes_binary.csv").read_bytes())))
    client.post(f"{JOBS}/{job['id']}/items/", files=files, headers=MANAGE)
    bad = client.post(
        f"/api/v2/deployments/{BINARY}/retrainingPolicies/",
        json={"jobId": job["id"], "schedule": "daily"},
        headers=MANAGE,
    )
    assert bad.status_code == 400 and "rate(" in bad.json()["message"]
    policy = client.post(
        f"/api/v2/deployments/{BINARY}/retrainingPolicies/",
        json={"jobId": job["id"], "schedule": "cron(0 2 * * ? *)", "tolerance": 0.2},
        headers=MANAGE,
    ).json()
    assert client.get(f"/api/v2/deployments/{BINARY}/retrainingPolicies/", headers=MANAGE).json()["count"] == 1
    assert (
        client.post(f"/api/v2/deployments/{BINARY}/retrainingPolicies/{policy['id']}/runs/", headers=MANAGE).status_code
        == 202
    )
    deadline = time.monotonic() + 180
    runs: list = []
    while time.monotonic() < deadline:
        runs = client.get(f"{JOBS}/{job['id']}/runs/", headers=MANAGE).json()["data"]
        if runs and runs[0]["status"] not in ("queued", "running"):
            break
        time.sleep(0.2)
    assert runs and runs[0]["status"] == "succeeded" and runs[0]["decision"]["accepted"] is True
    served = client.post(url(BINARY), content=sample("diabetes_binary"), headers=CSV)
    assert served.headers["X-DataRobot-Model-Id"] == runs[0]["candidateModelId"]
    rolled = client.post(f"/api/v2/deployments/{BINARY}/modelRollback/", headers=MANAGE)
    assert rolled.json()["modelId"] == BINARY_MODEL
    assert (
        client.post(url(BINARY), content=sample("diabetes_binary"), headers=CSV).headers["X-DataRobot-Model-Id"]
        == BINARY_MODEL
    )
    again = client.post(f"/api/v2/deployments/{BINARY}/modelRollback/", headers=MANAGE)
    assert again.status_code == 400 and "no previous model" in again.json()["message"]
