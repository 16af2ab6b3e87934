"""Using the service never dirties the checkout: what it writes goes to a git-ignored data folder,
the bundled demo stays read-only underneath (reads fall through to it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import AUTH, BINARY, MANAGE_AUTH, ROOT, TOKEN, add_manage_token, free_port, sample
from drcompat.config import DEFAULT_DATA_DIR, DEFAULT_STORAGE_ROOT, Settings, job_endpoint
from drcompat.jobs.templates import GALLERY
from drcompat.storage import storage_from_settings
from drcompat.storage.overlay import OverlayStorage


def git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def test_default_storage_writes_to_the_ignored_data_folder():
    storage = storage_from_settings(Settings())
    assert isinstance(storage, OverlayStorage)
    assert Path(storage.upper.root) == DEFAULT_DATA_DIR.resolve()  # type: ignore[attr-defined]
    assert Path(storage.lower.root) == DEFAULT_STORAGE_ROOT.resolve()  # type: ignore[attr-defined]
    ignored = subprocess.run(["git", "check-ignore", "-q", str(DEFAULT_DATA_DIR / "jobs" / "x")], cwd=ROOT)
    assert ignored.returncode == 0, "the data folder must be git-ignored"


def test_overlay_reads_fall_through_and_writes_stay_above(tmp_path):
    settings = Settings(storage_root=DEFAULT_STORAGE_ROOT, data_dir=tmp_path / "data")
    storage = storage_from_settings(settings)
    original = (DEFAULT_STORAGE_ROOT / "deployments.yaml").read_bytes()
    assert storage.read("deployments.yaml") == original
    storage.write("deployments.yaml", original + b"# changed\n")
    assert storage.read("deployments.yaml").endswith(b"# changed\n")
    assert (DEFAULT_STORAGE_ROOT / "deployments.yaml").read_bytes() == original
    assert (tmp_path / "data" / "deployments.yaml").is_file()
    assert "models/65f1b0000000000000000001/model.onnx" in storage.list("models/")


def test_a_custom_storage_root_is_written_in_place(tmp_path):
    storage = storage_from_settings(Settings(storage_root=tmp_path))
    storage.write("jobs/a.yaml", b"x")
    assert (tmp_path / "jobs" / "a.yaml").read_bytes() == b"x"


def test_job_endpoint_defaults_to_this_server(monkeypatch):
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.setenv("PORT", "9123")
    assert job_endpoint(Settings()) == "http://127.0.0.1:9123/predApi/v1.0"
    assert job_endpoint(Settings(public_url="https://x.example/predApi/v1.0")) == "https://x.example/predApi/v1.0"


def call(
    base: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, bytes]:
    auth = MANAGE_AUTH if path.startswith("/api/v2/") else AUTH  # the demo token may not manage jobs
    request = urllib.request.Request(base + path, data=body, method=method, headers={**auth, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def multipart(files: dict[str, bytes]) -> tuple[bytes, str]:
    boundary = "drcompatboundary"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
        + content
        + b"\r\n"
        for name, content in files.items()
    )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_every_feature_under_the_serve_command_leaves_git_status_clean(tmp_path):
    before = git_status()
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "layers" / "models" / "deployments.yaml", tmp_path / "data" / "deployments.yaml")
    add_manage_token(tmp_path / "data")  # the operator's token for the jobs API, in the data folder
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "LOG_LEVEL": "warning",
        "DRC_DATA_DIR": str(tmp_path / "data"),  # the default is ROOT/.drcompat-data (tested above)
        "DRC_POLICY_INTERVAL_SECONDS": "0.5",
        "DRC_CREDENTIALS_FILE": str(tmp_path / "credentials.yaml"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "drcompat.api.server"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if call(base, "GET", "/health")[0] == 200:
                    break
            except urllib.error.URLError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        predictions = f"/predApi/v1.0/deployments/{BINARY}/predictions"
        assert call(base, "POST", predictions, sample("diabetes_binary"), {"Content-Type": "text/csv"})[0] == 200
        explained = predictions.replace("predictions", "predictionExplanations")
        assert call(base, "POST", explained, sample("diabetes_binary"), {"Content-Type": "text/csv"})[0] == 200
        status, job = call(
            base, "POST", "/api/v2/customJobs/", b'{"name": "state"}', {"Content-Type": "application/json"}
        )
        assert status == 201
        job_id = json.loads(job)["id"]
        files = {p.name: p.read_bytes() for p in (GALLERY / "sample").iterdir() if p.is_file()}
        files["run.sh"] = files["run.sh"].replace(b"python3", sys.executable.encode())
        body, content_type = multipart(files)
        assert call(base, "POST", f"/api/v2/customJobs/{job_id}/items/", body, {"Content-Type": content_type})[0] == 200
        status, run = call(
            base, "POST", f"/api/v2/customJobs/{job_id}/runs/", b"{}", {"Content-Type": "application/json"}
        )
        assert status == 202
        run_id = json.loads(run)["id"]
        policy_body = json.dumps({"jobId": job_id, "schedule": "rate(1 minutes)"}).encode()
        policies = f"/api/v2/deployments/{BINARY}/retrainingPolicies/"
        status, policy = call(base, "POST", policies, policy_body, {"Content-Type": "application/json"})
        assert status == 201
        assert call(base, "POST", f"{policies}{json.loads(policy)['id']}/runs/", b"")[0] == 202
        call(base, "POST", f"/api/v2/deployments/{BINARY}/modelRollback/", b"")  # nothing to roll back: a 4xx
        deadline = time.monotonic() + 60
        while json.loads(call(base, "GET", f"/api/v2/customJobs/{job_id}/runs/{run_id}/")[1])["status"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        log = call(base, "GET", f"/api/v2/customJobs/{job_id}/runs/{run_id}/logs/")[1].decode()
        assert f"service endpoint: http://127.0.0.1:{port}/predApi/v1.0" in log  # DRC_PUBLIC_URL's default
        time.sleep(1.0)  # let the policy loop and the policy run write what they write
    finally:
        process.terminate()
        process.wait(10)
    assert git_status() == before
    assert (tmp_path / "data" / "jobs" / job_id / "job.yaml").is_file()
    assert any((tmp_path / "data" / "policies").iterdir())
    assert TOKEN  # the demo token opened everything above
