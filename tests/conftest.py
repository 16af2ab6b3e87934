"""Shared fixtures: a private copy of the demo bucket per test, and clients over it."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
import yaml
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer

from drcompat.api import create_app
from drcompat.api.server import uvicorn_config
from drcompat.config import Settings

ROOT = Path(__file__).resolve().parent.parent
# Monitoring capture writes into the storage root; tests that want it turn it on explicitly, so
# apps over the bundled demo folder never write into the checkout.
os.environ.setdefault("DRC_MONITORING_ENABLED", "false")
DEMO_BUCKET = ROOT / "layers" / "models"
SAMPLES = DEMO_BUCKET / "samples"
TOKEN = "demo-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BINARY = "65f1a0000000000000000001"
REGRESSION = "65f1a0000000000000000002"
MULTICLASS = "65f1a0000000000000000003"
BINARY_MODEL = "65f1b0000000000000000001"
REGRESSION_MODEL = "65f1b0000000000000000002"
MULTICLASS_MODEL = "65f1b0000000000000000003"


def url(deployment: str, prefix: str = "/predApi/v1.0") -> str:
    return f"{prefix}/deployments/{deployment}/predictions"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample(name: str) -> bytes:
    return (SAMPLES / f"{name}.csv").read_bytes()


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    """A writable copy of the demo bucket, so tests can publish versions and break files."""
    target = tmp_path / "bucket"
    shutil.copytree(DEMO_BUCKET, target)
    return target


MANAGE_TOKEN = "jobs-manager-token-for-tests-0123456789"
MANAGE_AUTH = {"Authorization": f"Bearer {MANAGE_TOKEN}"}


def add_manage_token(bucket: Path) -> dict[str, str]:
    """A token with manageJobs in the test bucket's registry (the demo token has none)."""
    path = bucket / "deployments.yaml"
    document = yaml.safe_load(path.read_text())
    document["tokens"]["jobs-manager"] = {
        "sha256": hashlib.sha256(MANAGE_TOKEN.encode()).hexdigest(),
        "manageJobs": True,
        "description": "Test token for the custom-jobs API.",
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return MANAGE_AUTH


ADMIN_TOKEN = "admin-token-for-tests-manages-deployments-and-jobs"
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def add_admin_token(bucket: Path) -> dict[str, str]:
    """An operator's token (manageDeployments and manageJobs, scoped to every deployment), as
    ``drcompat tokens create`` would make it; the public demo token may only predict."""
    path = bucket / "deployments.yaml"
    document = yaml.safe_load(path.read_text())
    document["tokens"]["admin"] = {
        "sha256": hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest(),
        "manageDeployments": True,
        "manageJobs": True,
        "description": "Test operator token.",
    }
    for entry in document["deployments"].values():
        entry["tokens"] = [*entry.get("tokens", []), "admin"]
    document.pop("integrity", None)
    document.pop("revision", None)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return ADMIN_AUTH


@pytest.fixture
def manage_auth(bucket: Path) -> dict[str, str]:
    return add_manage_token(bucket)


@pytest.fixture
def settings(bucket: Path, tmp_path: Path) -> Settings:
    return Settings(storage_root=bucket, registry_ttl_seconds=0.0, credentials_file=tmp_path / "credentials.yaml")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # moto accepts any value
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app over a real socket (uvicorn in a thread, configured as the service runs it); its URL."""
    port = free_port()
    config = uvicorn_config(create_app(settings), settings, "127.0.0.1", port, "warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(5)


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    with serving(settings) as base:
        yield base
