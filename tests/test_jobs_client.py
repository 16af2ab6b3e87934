"""Custom jobs through DataRobot's official client, unchanged, over a real socket: environments,
a credential, a job from a folder (all five parameter types), a run with values that waits on the
async protocol, its masked log read back as DRUM's reader sees the parameters, runs, cancel,
schedules, and delete."""

from __future__ import annotations

import json
import time
from pathlib import Path

import datarobot as dr
import pytest
from datarobot.errors import ClientError
from datarobot.models.registry import Job, JobRun
from datarobot.models.registry.job import JobSchedule
from datarobot.models.runtime_parameters import RuntimeParameterValue

from conftest import BINARY, MANAGE_TOKEN, add_manage_token
from test_hostile_jobs import host_processes_with

SECRET = "warehouse-p4ssw0rd-xyz"
METADATA = """\
name: client-job
runtimeParameterDefinitions:
- fieldName: GREETING
  type: string
  defaultValue: hello
- fieldName: COUNT
  type: numeric
  defaultValue: 1
  minValue: 0
  maxValue: 10
- fieldName: LOUD
  type: boolean
  defaultValue: false
- fieldName: DEPLOYMENT
  type: deployment
- fieldName: WAREHOUSE
  type: credential
  credentialType: basic
"""
JOB_PY = """\
import json
from datarobot_drum import RuntimeParameters

names = ["GREETING", "COUNT", "LOUD", "DEPLOYMENT"]
print("PARAMS " + json.dumps({name: RuntimeParameters.get(name) for name in names}))
credential = RuntimeParameters.get("WAREHOUSE")
print("CREDENTIAL " + credential["credentialType"] + " " + credential["user"] + " " + credential["password"])
"""


@pytest.fixture
def dr_client(live_server, bucket):
    add_manage_token(bucket)
    return dr.Client(endpoint=f"{live_server}/api/v2", token=MANAGE_TOKEN)


def job_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "job"
    (folder / "lib").mkdir(parents=True)
    (folder / "metadata.yaml").write_text(METADATA)
    (folder / "run.sh").write_text("python3 lib/job.py\n")
    (folder / "lib" / "job.py").write_text(JOB_PY)
    (folder / "lib" / "run.sh").write_text("echo nested, never the entry point\n")
    return folder


def test_the_whole_flow_through_the_official_client(dr_client, tmp_path):
    environments = dr.ExecutionEnvironment.list()
    assert environments and "Python" in environments[0].name
    credential = dr.Credential.create_basic("warehouse", "analyst", SECRET)

    job = Job.create("client job", folder_path=str(job_folder(tmp_path)))
    assert job.environment_id == environments[0].id  # the Python drop-in by default
    paths = {item.file_path: item for item in job.items}
    assert set(paths) == {"metadata.yaml", "run.sh", "lib/job.py", "lib/run.sh"}  # nested kept, none overwritten
    assert job.entry_point == paths["run.sh"].id
    assert {p.field_name: p.type for p in job.runtime_parameters} == {
        "GREETING": "string",
        "COUNT": "numeric",
        "LOUD": "boolean",
        "DEPLOYMENT": "deployment",
        "WAREHOUSE": "credential",
    }

    values = [
        RuntimeParameterValue(field_name="GREETING", type="string", value="hi there"),
        RuntimeParameterValue(field_name="COUNT", type="numeric", value=3),
        RuntimeParameterValue(field_name="LOUD", type="boolean", value=True),
        RuntimeParameterValue(field_name="DEPLOYMENT", type="deployment", value=BINARY),
        RuntimeParameterValue(field_name="WAREHOUSE", type="credential", value=credential.credential_id),
    ]
    run = JobRun.create(job.id, max_wait=120, runtime_parameter_values=values)
    assert run.status.value == "succeeded" and run.custom_job_id == job.id and run.duration > 0
    log = run.get_logs()
    assert SECRET not in log and "CREDENTIAL basic ***** *****" in log  # user and password masked
    params = json.loads(next(line for line in log.splitlines() if line.startswith("PARAMS "))[len("PARAMS ") :])
    assert params == {"GREETING": "hi there", "COUNT": 3.0, "LOUD": True, "DEPLOYMENT": BINARY}

    run.update(description="first run")
    assert JobRun.get(job.id, run.id).description == "first run"
    assert [r.id for r in JobRun.list(job.id)] == [run.id]
    run.delete_logs()
    assert run.get_logs() is None

    job.update(description="changed", file_data={"lib/extra.txt": "more"}, entry_point=paths["run.sh"].id)
    assert job.description == "changed" and "lib/extra.txt" in {i.file_path for i in job.items}
    assert len(job.items) == 5
    job.update(runtime_parameter_values=[RuntimeParameterValue(field_name="GREETING", type="string", value="job-wide")])
    greeting = next(p for p in Job.get(job.id).runtime_parameters if p.field_name == "GREETING")
    assert greeting.override_value == "job-wide" and greeting.default_value == "hello"

    schedule = {"minute": [0], "hour": [3], "day_of_month": ["*"], "month": ["*"], "day_of_week": [1, 2]}
    created = JobSchedule.create(custom_job_id=job.id, schedule=schedule)
    listed = job.list_schedules()
    assert [s.id for s in listed] == [created.id]
    assert listed[0].schedule["hour"] == [3] and listed[0].schedule["day_of_week"] == [1, 2]
    created.delete()
    assert job.list_schedules() == []

    job.delete()
    with pytest.raises(ClientError) as missing:
        Job.get(job.id)
    assert missing.value.status_code == 404


def test_cancel_ends_the_whole_process_tree(dr_client):
    marker = "4242"
    script = f"sleep {marker}1 &\nsleep {marker}2 &\necho started\nsleep {marker}3\n"
    job = Job.create("long", file_data={"run.sh": script, "metadata.yaml": "name: long\n"})
    run = JobRun.create(job.id, max_wait=None)
    assert run.status.value == "running"
    deadline = time.monotonic() + 30
    while len(host_processes_with(marker)) < 3:
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.1)
    run.cancel()
    deadline = time.monotonic() + 30
    while JobRun.get(job.id, run.id).status.value != "canceled":
        assert time.monotonic() < deadline, "the run was not canceled"
        time.sleep(0.1)
    deadline = time.monotonic() + 10
    while host_processes_with(marker):
        assert time.monotonic() < deadline, "processes of the canceled run are still alive"
        time.sleep(0.1)


def test_templates_file_delete_and_bad_requests(dr_client, live_server):
    session = dr_client
    templates = session.get("customJobs/templates/").json()["data"]
    assert {t["id"] for t in templates} >= {"sample", "retraining"}
    made = session.post("customJobs/fromTemplate/", data={"templateId": "sample", "name": "from gallery"}).json()
    job = Job.get(made["id"])
    readme = next(i for i in job.items if i.file_path == "README.md")
    session.delete(f"customJobs/{job.id}/items/{readme.id}/")
    assert "README.md" not in {i.file_path for i in Job.get(job.id).items}

    every = {"hour": ["*"], "dayOfMonth": ["*"], "month": ["*"], "dayOfWeek": ["*"]}
    for body, words in [({"schedule": {"minute": [61], **every}}, "0-59"), ({"schedule": {"minute": [0]}}, "hour")]:
        with pytest.raises(ClientError) as refused:
            session.post(f"customJobs/{job.id}/schedules/", data=body)
        assert refused.value.status_code == 400 and words in refused.value.json["message"]
    with pytest.raises(ClientError) as refused:
        Job.create("bad env", environment_id="65f1f00000000000000000ff", file_data={"run.sh": "true\n"})
    assert refused.value.status_code == 404
    assert Job.list() and all(j.name != "bad env" for j in Job.list())


def test_requirements_txt_needs_network(dr_client, bucket):
    files = {"run.sh": "python3 -c 'import yaml; print(\"ok\")'\n", "metadata.yaml": "name: deps\n"}
    job = Job.create("deps", file_data={**files, "requirements.txt": "some-package==1.0\n"})
    dr_client.patch(f"customJobs/{job.id}/", data={"networkAccess": "none"})
    run = JobRun.create(job.id, max_wait=60)
    assert run.status.value == "failed" and "needs network access" in run.get_logs()
    job.update(file_data={"requirements.txt": "# nothing to add\n"})
    assert JobRun.create(job.id, max_wait=60).status.value == "succeeded"
    job.update(file_data={"requirements.txt": "--index-url http://elsewhere/ pkg\n"})
    dr_client.patch(f"customJobs/{job.id}/", data={"networkAccess": "public"})
    run = JobRun.create(job.id, max_wait=60)
    assert run.status.value == "failed" and "only plain requirements" in run.get_logs()


def test_bad_client_requests_are_clear_4xx(dr_client, live_server):
    import requests

    auth = {"Authorization": f"Bearer {MANAGE_TOKEN}"}
    jobs = f"{live_server}/api/v2/customJobs/"

    def refused(answer: requests.Response, status: int, words: str) -> None:
        assert answer.status_code == status, answer.text
        assert words in answer.json()["message"]

    files = [("file", ("run.sh", b"true\n")), ("filePath", (None, "../outside.sh"))]
    refused(requests.post(jobs, data={"name": "escape"}, files=files, headers=auth, timeout=10), 400, "outside")
    bad_json = {"name": "j", "runtimeParameterValues": "[{not json"}
    refused(
        requests.post(jobs, data=bad_json, files=[("file", ("run.sh", b"true\n"))], headers=auth, timeout=10),
        400,
        "JSON",
    )
    secret = json.dumps([{"fieldName": "DB", "type": "credential", "value": {"password": "x"}}])
    answer = requests.post(
        jobs,
        data={"name": "j", "runtimeParameterValues": secret},
        files=[("file", ("a", b"x"))],
        headers=auth,
        timeout=10,
    )
    refused(answer, 400, "stored credential")
    assert [j for j in Job.list() if j.name in ("escape", "j")] == []  # nothing half-made stays

    job = Job.create("ok", file_data={"run.sh": "true\n", "metadata.yaml": "name: ok\n"})
    runs = f"{jobs}{job.id}/runs/"
    refused(
        requests.post(runs, json={"runtimeParameterValues": [{"type": "string"}]}, headers=auth, timeout=10),
        400,
        "fieldName",
    )
    refused(requests.post(runs, json={"runtimeParameterValues": 7}, headers=auth, timeout=10), 400, "list")
    missing = requests.get(f"{runs}ffffffffffffffffffffffff/status/", headers=auth, timeout=10)
    assert missing.status_code == 404
    run = JobRun.create(job.id, max_wait=60)
    run.cancel()  # already finished: nothing changes
    assert JobRun.get(job.id, run.id).status.value == "succeeded"
    refused(requests.patch(f"{runs}{run.id}/", json={"status": "failed"}, headers=auth, timeout=10), 400, "description")
    other = requests.get(
        f"{jobs}{job.id}/", headers={"Authorization": "Bearer demo-token-0123456789abcdef"}, timeout=10
    )
    assert other.status_code in (401, 403)
