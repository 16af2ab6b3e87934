"""The jobs API under hostile input: every refusal is a 4xx JSON message, never a 500 or a hang."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from conftest import MANAGE_AUTH, add_manage_token
from drcompat.api import create_app
from drcompat.config import Settings

JOBS = "/api/v2/customJobs"


@pytest.fixture
def api(bucket) -> Iterator[TestClient]:
    add_manage_token(bucket)
    settings = Settings(
        storage_root=bucket,
        registry_ttl_seconds=0.0,
        job_upload_max_bytes=1024 * 1024,
        job_archive_max_entries=20,
        job_archive_max_bytes=2 * 1024 * 1024,
        job_json_max_bytes=64 * 1024,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def new_job(api: TestClient) -> str:
    created = api.post(f"{JOBS}/", json={"name": "j"}, headers=MANAGE_AUTH)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def refused(response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert words in response.json()["message"]


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, content in entries.items():
            bundle.writestr(name, content)
    return buffer.getvalue()


def test_create_accepts_known_settings_only_and_ids_are_the_servers(api):
    refused(api.post(f"{JOBS}/", json={"name": "j", "id": "a" * 24}, headers=MANAGE_AUTH), 400, "'id'")
    refused(api.post(f"{JOBS}/", json={"name": "j", "files": {"run.sh": "x"}}, headers=MANAGE_AUTH), 400, "'files'")
    listed = api.get(f"{JOBS}/", headers=MANAGE_AUTH).json()
    assert listed["count"] == 0
    job_id = new_job(api)
    assert api.get(f"{JOBS}/{job_id}/", headers=MANAGE_AUTH).status_code == 200
    refused(api.patch(f"{JOBS}/{job_id}/", json={"id": "b" * 24}, headers=MANAGE_AUTH), 400, "'id'")


@pytest.mark.parametrize("entry", [{"x": 1}, ["run.sh"], 7, "../run.sh", "run.py", "a/run.sh", "x" * 300 + ".sh"])
def test_malformed_entry_points_are_refused_on_create_and_patch(api, entry):
    refused(api.post(f"{JOBS}/", json={"name": "j", "entryPoint": entry}, headers=MANAGE_AUTH), 400, "Entry point")
    job_id = new_job(api)
    refused(api.patch(f"{JOBS}/{job_id}/", json={"entryPoint": entry}, headers=MANAGE_AUTH), 400, "Entry point")
    assert api.patch(f"{JOBS}/{job_id}/", json={"entryPoint": "train.sh"}, headers=MANAGE_AUTH).status_code == 200


def test_inline_credentials_are_refused_and_never_returned(api):
    secret = {"credentialType": "basic", "user": "ann", "password": "inline-secret-42"}
    body = {"name": "j", "runtimeParameterValues": {"db": secret}}
    refused(api.post(f"{JOBS}/", json=body, headers=MANAGE_AUTH), 400, "stored credential")
    job_id = new_job(api)
    patch = {"runtimeParameterValues": {"db": secret}}
    refused(api.patch(f"{JOBS}/{job_id}/", json=patch, headers=MANAGE_AUTH), 400, "stored credential")
    assert "inline-secret-42" not in api.get(f"{JOBS}/{job_id}/", headers=MANAGE_AUTH).text
    run = api.post(f"{JOBS}/{job_id}/runs/", json={"runtimeParameterValues": {"db": secret}}, headers=MANAGE_AUTH)
    refused(run, 400, "stored credential")
    assert api.get(f"{JOBS}/{job_id}/runs/", headers=MANAGE_AUTH).json()["count"] == 0


def test_bad_archives_and_file_names_are_4xx(api):
    job_id = new_job(api)
    items = f"{JOBS}/{job_id}/items/"
    broken = bytearray(zipped({"run.sh": b"echo hello there, this is a job\n" * 50}))
    broken[broken.index(b"PK\x01\x02") + 16] ^= 0xFF  # a wrong CRC-32 in the central directory
    refused(api.post(items, files={"archive": ("a.zip", bytes(broken))}, headers=MANAGE_AUTH), 400, "run.sh")
    clash = zipped({"a": b"file", "a/b": b"under a file"})
    refused(api.post(items, files={"archive": ("c.zip", clash)}, headers=MANAGE_AUTH), 400, "both as a file")
    many = zipped({f"f{i}.txt": b"x" for i in range(30)})
    refused(api.post(items, files={"archive": ("m.zip", many)}, headers=MANAGE_AUTH), 413, "entries")
    bomb = zipped({"bomb.bin": b"\0" * (3 * 1024 * 1024)})  # a few KB that unpack past the cap
    assert len(bomb) < 64 * 1024
    refused(api.post(items, files={"archive": ("b.zip", bomb)}, headers=MANAGE_AUTH), 413, "unpacks to more")
    for path, words in [("x" * 300, "too long"), ("a\0b", "control characters"), ("../up", "outside the job")]:
        answer = api.post(items, files={"file": ("f", b"x")}, data={"filePath": path}, headers=MANAGE_AUTH)
        refused(answer, 400, words)
    api.post(items, files={"file": ("a", b"file")}, headers=MANAGE_AUTH)
    nested = api.post(items, files={"file": ("b", b"x")}, data={"filePath": "a/b"}, headers=MANAGE_AUTH)
    refused(nested, 400, "clashes")
    later = zipped({"ok.txt": b"fine", "a/c": b"under the file a"})
    refused(api.post(items, files={"archive": ("l.zip", later)}, headers=MANAGE_AUTH), 400, "clashes")
    kept = api.get(f"{JOBS}/{job_id}/", headers=MANAGE_AUTH).json()["items"]
    assert [i["filePath"] for i in kept] == ["a"]  # nothing half-written


def test_uploads_and_json_bodies_are_capped_while_read(api):
    job_id = new_job(api)
    big = b"x" * (1024 * 1024 + 1)
    refused(api.post(f"{JOBS}/{job_id}/items/", files={"file": ("big", big)}, headers=MANAGE_AUTH), 413, "limit")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap must hold while reading
        yield b'{"name": "'
        for _ in range(200):
            yield b"y" * 1024
        yield b'"}'

    refused(api.post(f"{JOBS}/", content=chunks(), headers=MANAGE_AUTH), 413, "limit")
    declared = {**MANAGE_AUTH, "Content-Length": str(10**9)}
    refused(api.post(f"{JOBS}/", content=b"{}", headers=declared), 413, "limit")
    assert api.get("/health").status_code == 200


def test_a_long_log_is_served_in_pieces_as_stored(api, bucket):
    job_id = new_job(api)
    queued = api.post(f"{JOBS}/{job_id}/runs/", json={}, headers=MANAGE_AUTH).json()
    for _ in range(100):  # the run has no files: it fails at once; then its log is replaced
        if api.get(f"{JOBS}/{job_id}/runs/{queued['id']}/", headers=MANAGE_AUTH).json()["status"] == "failed":
            break
        time.sleep(0.05)
    log = b"".join(b"line %07d of a long log\n" % i for i in range(150_000))  # 3.6 MB: several pieces
    (bucket / "jobs" / job_id / "runs" / queued["id"] / "log.txt").write_bytes(log)
    with api.stream("GET", f"{JOBS}/{job_id}/runs/{queued['id']}/logs/", headers=MANAGE_AUTH) as answer:
        pieces = list(answer.iter_raw())
    assert answer.status_code == 200 and b"".join(pieces) == log and len(pieces) > 1
