"""Jobs are hostile code: each test runs a job that tries to escape, and fails if anything leaks.

The jobs run through the real JobService and runner, in the bubblewrap sandbox (``make test``
installs bubblewrap). Where no sandbox can be made the only safe answer is a refusal, and that is
what the first test checks there instead.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from conftest import AUTH, BINARY, sample, url
from drcompat.api import create_app
from drcompat.config import Settings
from drcompat.jobs.credentials import LocalCredentialStore
from drcompat.jobs.limits import JobLimits
from drcompat.jobs.runner import JobRunError, run_job
from drcompat.jobs.sandbox import bwrap_path
from drcompat.jobs.service import JobService
from drcompat.jobs.tokens import issue_run_token
from drcompat.storage import LocalStorage

CANARY = "canary-7f3a9c-do-not-leak"
SMALL = JobLimits(disk_quota_bytes=16 * 1024 * 1024, log_max_bytes=256 * 1024, max_processes=64)
METADATA = b"name: hostile\n"
needs_sandbox = pytest.mark.skipif(bwrap_path() is None, reason="no sandbox here: runs are refused (tested below)")


def service(bucket: Path, limits: JobLimits = SMALL, credentials: LocalCredentialStore | None = None) -> JobService:
    return JobService(LocalStorage(bucket), credentials=credentials, limits=limits)


def run(jobs: JobService, script: str, **settings: object) -> tuple[dict, str]:
    job = jobs.create_job("hostile", {"run.sh": script.encode(), "metadata.yaml": METADATA}, **settings)
    record = jobs.start_run(job["id"])
    return record, jobs.run_log(job["id"], record["id"])


def host_processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_without_a_sandbox_runs_are_refused_not_run_unprotected(bucket, monkeypatch):
    monkeypatch.setattr("drcompat.jobs.sandbox.bwrap_path", lambda: None)
    record, log = run(service(bucket), "echo should-not-run\n")
    assert record["status"] == "failed" and "should-not-run" not in log
    assert "DRC_JOB_SANDBOX=off" in log
    with pytest.raises(JobRunError):
        run_job(bucket, {}, entry=None)


@needs_sandbox
def test_the_service_environment_and_processes_are_out_of_reach(bucket, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY)
    script = (
        "id -u\n"
        'cat /proc/1/environ /proc/$PPID/environ 2>/dev/null; for f in /proc/*/environ; do cat "$f"; done 2>/dev/null\n'
        "env\n"
        "echo pids: $(ls /proc | grep -c '^[0-9]')\n"
    )
    record, log = run(service(bucket), script)
    assert record["status"] == "succeeded", log
    assert CANARY not in log and "AWS_" not in log
    assert log.splitlines()[0] != "0"  # not root
    assert int(log.split("pids: ")[1].split()[0]) < 10  # its own processes only, not the host's
    assert str(os.getpid()) not in log.split("pids: ")[0].splitlines()[1:]


@needs_sandbox
def test_credential_store_registry_and_service_files_are_out_of_reach(bucket, tmp_path):
    store = LocalCredentialStore(tmp_path / "credentials.yaml")
    store.put("warehouse", {"credentialType": "basic", "user": "ann", "password": CANARY})
    repository = Path(__file__).resolve().parents[1]
    registry_before = (bucket / "deployments.yaml").read_bytes()
    digest = yaml.safe_load(registry_before)["tokens"]["demo"]["sha256"]
    script = (
        f"cat {store.path} {bucket}/deployments.yaml {repository}/src/drcompat/config.py 2>&1\n"
        f"ls {bucket} {repository}/src 2>&1\n"
        f'printf "tokens:\\n  evil:\\n    sha256: {"0" * 64}\\n    manageJobs: true\\n" >> {bucket}/deployments.yaml\n'
        f"echo hijack > {bucket}/jobs/run.sh; mkdir -p {bucket}/jobs/evil && echo x > {bucket}/jobs/evil/job.yaml\n"
        "find / -xdev -name deployments.yaml 2>/dev/null\n"
        "echo done\n"
    )
    _, log = run(service(bucket, credentials=store), script)
    assert "done" in log
    assert CANARY not in log and digest not in log and "class Settings" not in log
    assert (bucket / "deployments.yaml").read_bytes() == registry_before  # the registry is untouched
    assert not (bucket / "jobs" / "run.sh").exists() and not (bucket / "jobs" / "evil").exists()


@needs_sandbox
def test_a_job_cannot_touch_another_jobs_files(bucket):
    jobs = service(bucket)
    victim = jobs.create_job("victim", {"run.sh": b"echo victim ran honestly\n", "metadata.yaml": METADATA})
    tmp = tempfile.gettempdir()
    script = (
        f"for f in {bucket}/jobs/*/files/run.sh {tmp}/drcompat-run-*/job/run.sh; do echo 'echo pwned' > \"$f\"; done\n"
        f"ls {bucket}/jobs {tmp} 2>&1 | head -3\n"
    )
    run(jobs, script)
    assert jobs.read_file(victim["id"], "run.sh") == b"echo victim ran honestly\n"
    record = jobs.start_run(victim["id"])
    log = jobs.run_log(victim["id"], record["id"])
    assert "victim ran honestly" in log and "pwned" not in log


@needs_sandbox
def test_network_none_reaches_no_socket_at_all(bucket, tmp_path):
    path = tmp_path / "host.sock"
    filesystem = socket.socket(socket.AF_UNIX)
    filesystem.bind(str(path))
    filesystem.listen(1)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0drcompat-test-{os.getpid()}")
    abstract.listen(1)
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    probe = (
        "import socket\n"
        f"for family, address in [(socket.AF_UNIX, {str(path)!r}), (socket.AF_UNIX, '\\0drcompat-test-{os.getpid()}'),"
        f" (socket.AF_INET, ('127.0.0.1', {tcp.getsockname()[1]}))]:\n"
        "    s = socket.socket(family)\n"
        "    try:\n"
        "        s.connect(address); print('REACHED', address)\n"
        "    except OSError as exc:\n"
        "        print('blocked', type(exc).__name__)\n"
    )
    try:
        jobs = service(bucket)
        job = jobs.create_job(
            "sockets",
            {"run.sh": b"python3 probe.py\n", "probe.py": probe.encode(), "metadata.yaml": METADATA},
            networkAccess="none",
        )
        record = jobs.start_run(job["id"])
        log = jobs.run_log(job["id"], record["id"])
        assert record["status"] == "succeeded", log
        assert log.count("blocked") == 3 and "REACHED" not in log
    finally:
        for s in (filesystem, abstract, tcp):
            s.close()


@needs_sandbox
@pytest.mark.parametrize("timeout", [30, 3])
def test_detached_children_end_with_the_run(bucket, timeout):
    marker = f"{time.time_ns() % 10**6}.{timeout}17"  # a sleep length no other process uses
    script = f"setsid sleep {marker} &\n(trap '' HUP TERM; nohup sleep {marker} &) &\necho started\nsleep 8\n"
    record, log = run(service(bucket), script, timeoutSeconds=timeout)
    assert "started" in log
    assert record["status"] == ("timedOut" if timeout == 3 else "succeeded")
    deadline = time.monotonic() + 5
    while host_processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert host_processes_with(marker) == []


@needs_sandbox
def test_huge_logs_are_capped_with_a_marker(bucket):
    script = "head -c 20000000 /dev/zero | tr '\\0' 'x'\necho\nyes 'a line of log' | head -n 1000000\necho the end\n"
    record, log = run(service(bucket), script)
    assert record["status"] == "succeeded"
    stored = bucket / "jobs" / record["jobId"] / "runs" / record["id"] / "log.txt"
    assert stored.stat().st_size < SMALL.log_max_bytes + 1024
    assert "[log cut here" in log and "the end" not in log


@needs_sandbox
def test_the_disk_quota_holds_and_nothing_outlives_the_run(bucket):
    script = (
        'for d in "$HOME" /tmp "$TMPDIR" /dev/shm; do\n'
        '  head -c 67108864 /dev/zero > "$d/fill" 2>&1 || echo "full: $d"\n'
        "done\n"
        "touch /usr/evil /etc/evil 2>&1 || echo read-only\n"
        "echo done\n"
    )
    before = set(os.listdir(tempfile.gettempdir()))
    record, log = run(service(bucket), script)
    assert "done" in log, log
    assert log.count("full:") == 4 and "read-only" in log
    assert not Path("/usr/evil").exists() and not Path("/etc/evil").exists()
    left = {n for n in set(os.listdir(tempfile.gettempdir())) - before if record["id"] in n}
    assert left == set()


@needs_sandbox
@pytest.mark.skipif(os.geteuid() != 0, reason="the process limit applies to the job's own uid (root hosts)")
def test_a_fork_storm_stays_inside_its_limit(bucket, client):
    record, log = run(service(bucket), "f() { f | f & }\nf\nsleep 3\n", timeoutSeconds=4)
    assert "Cannot fork" in log  # it hit its own limit
    # It ended by itself, not interrupted (its own `sleep` may be what cannot fork: then "failed").
    assert record["status"] in ("timedOut", "succeeded", "failed")
    answer = client.post(url(BINARY), content=sample("diabetes_binary"), headers={**AUTH, "Content-Type": "text/csv"})
    assert answer.status_code == 200  # the service kept serving
    deadline = time.monotonic() + 5
    while job_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job_processes() == []  # every process of the run is gone


def job_processes() -> list[int]:
    """Processes running as a sandboxed job's uid (200000-259999 on a root host)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            uid = int((entry / "status").read_text().split("Uid:")[1].split()[0])
        except (OSError, IndexError, ValueError):
            continue
        if 200_000 <= uid < 260_000:
            found.append(int(entry.name))
    return found


@needs_sandbox
def test_multi_line_credentials_are_masked_on_every_line(bucket, tmp_path):
    key = '{\n  "type": "service_account",\n  "private_key": "-----BEGIN KEY-----\\nMIIEv' + CANARY + '\\n-----END"\n}'
    store = LocalCredentialStore(tmp_path / "credentials.yaml")
    store.put("gcp", {"credentialType": "gcp", "gcpKey": key})
    metadata = b"name: m\nruntimeParameterDefinitions:\n- fieldName: key\n  type: credential\n"
    script = (
        'echo "$MLOPS_RUNTIME_PARAM_key"\n'
        'python3 -c "import json, os; '
        "print(json.loads(os.environ['MLOPS_RUNTIME_PARAM_key'])['payload']['gcpKey'])\"\n"
    )
    jobs = service(bucket, credentials=store)
    job = jobs.create_job("gcp", {"run.sh": script.encode(), "metadata.yaml": metadata})
    jobs.update_job(job["id"], runtimeParameterValues={"key": "gcp"})
    record = jobs.start_run(job["id"])
    log = jobs.run_log(job["id"], record["id"])
    assert record["status"] == "succeeded", log
    assert CANARY not in log and "service_account" not in log
    assert "*****" in log
    assert CANARY not in str(jobs.get_job(job["id"]))  # the job holds a reference only


def test_runs_left_running_by_a_crash_are_failed_revoked_and_cleaned(bucket):
    jobs = service(bucket)
    job = jobs.create_job("crashed", {"run.sh": b"echo hi\n", "metadata.yaml": METADATA})
    record = jobs.queue_run(job["id"], BINARY)
    record["status"] = "running"
    jobs._save_run(job["id"], record)
    issue_run_token(jobs.storage, BINARY, record["id"], 3600)
    folder = Path(tempfile.mkdtemp(prefix=f"drcompat-run-{record['id']}-"))
    (folder / "left.txt").write_text("x")
    assert f"run-{record['id']}" in (bucket / "deployments.yaml").read_text()
    assert jobs.recover_interrupted_runs() == [record["id"]]
    after = jobs.get_run(job["id"], record["id"])
    assert after["status"] == "failed" and "service stopped" in jobs.run_log(job["id"], record["id"])
    assert f"run-{record['id']}" not in (bucket / "deployments.yaml").read_text()
    assert not folder.exists()
    assert jobs.recover_interrupted_runs() == []


@needs_sandbox
def test_the_log_reaches_storage_while_the_run_is_going(bucket):
    jobs = service(bucket)
    job = jobs.create_job("slow", {"run.sh": b"echo first line\nsleep 8\necho last\n", "metadata.yaml": METADATA})
    queued = jobs.queue_run(job["id"])
    worker = threading.Thread(target=jobs.start_run, args=(job["id"], None, None, None, None, queued["id"]))
    worker.start()
    seen = ""
    deadline = time.monotonic() + 7
    while "first line" not in seen and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = jobs.run_log(job["id"], queued["id"])
    running = jobs.get_run(job["id"], queued["id"])["status"]
    worker.join(30)
    assert "first line" in seen and running == "running"
    assert "last" in jobs.run_log(job["id"], queued["id"])


def test_the_demo_token_is_off_in_a_deployed_stack(bucket):
    from fastapi.testclient import TestClient

    body, headers = sample("diabetes_binary"), {**AUTH, "Content-Type": "text/csv"}
    with TestClient(create_app(Settings(storage_root=bucket, registry_ttl_seconds=0.0))) as demo:
        assert demo.post(url(BINARY), content=body, headers=headers).status_code == 200
    off = Settings(storage_root=bucket, registry_ttl_seconds=0.0, demo_token=False)
    with TestClient(create_app(off)) as deployed:
        answer = deployed.post(url(BINARY), content=body, headers=headers)
        assert answer.status_code == 401 and answer.json() == {"message": "Invalid API key."}
    assert "demo" in yaml.safe_load((bucket / "deployments.yaml").read_text())["tokens"]  # the file is untouched


def test_only_runs_past_their_time_limit_are_reaped_where_other_containers_run_jobs(bucket):
    jobs = service(bucket)
    job = jobs.create_job("lost", {"run.sh": b"echo hi\n", "metadata.yaml": METADATA}, timeoutSeconds=60)
    lost, live = jobs.queue_run(job["id"]), jobs.queue_run(job["id"])
    lost.update(status="running", created=(datetime.now(UTC) - timedelta(hours=2)).isoformat())
    live.update(status="running")
    jobs._save_run(job["id"], lost)
    jobs._save_run(job["id"], live)
    assert jobs.recover_interrupted_runs(stale_after_seconds=1800) == [lost["id"]]
    assert jobs.get_run(job["id"], lost["id"])["status"] == "failed"
    assert jobs.get_run(job["id"], live["id"])["status"] == "running"  # another container may be running it
