"""Execution environments and resource bundles as DataRobot's official client lists them, and
the package carrying the files the runtime reads."""

from __future__ import annotations

import zipfile

import datarobot as dr
import pytest
from datarobot.errors import ClientError
from datarobot.models.resource_bundle import ResourceBundle

from conftest import AUTH, ROOT, TOKEN
from drcompat.jobs.environments import resource_bundle


@pytest.fixture
def dr_client(live_server):
    return dr.Client(endpoint=f"{live_server}/api/v2", token=TOKEN)


def test_the_client_lists_and_gets_environments(dr_client):
    found = dr.ExecutionEnvironment.list()
    assert [e.programming_language for e in found] == ["python"]
    python = dr.ExecutionEnvironment.get(found[0].id)
    assert python.latest_version.build_status == "success"
    assert python.latest_version.environment_id == python.id
    versions = dr.ExecutionEnvironmentVersion.list(python.id)
    assert [v.id for v in versions] == [python.latest_version.id]
    assert dr.ExecutionEnvironment.list(search_for="no such runtime") == []
    with pytest.raises(ClientError) as error:
        dr.ExecutionEnvironment.get("000000000000000000000000")
    assert error.value.status_code == 404


def test_the_client_lists_resource_bundles(dr_client):
    bundles = ResourceBundle.list()
    assert [b.id for b in bundles] == ["cpu.micro", "cpu.small", "cpu.medium", "cpu.large"]
    assert [b.id for b in bundles if b.is_default] == ["cpu.small"]
    assert ResourceBundle.get("cpu.large").memory_bytes == 10 * 1024**3
    assert resource_bundle(None).id == "cpu.small"


def test_environment_routes_need_a_token(client):
    assert client.get("/api/v2/executionEnvironments/").status_code == 401
    assert client.get("/api/v2/executionEnvironments/", headers=AUTH).json()["totalCount"] == 1


def test_the_built_package_carries_the_catalogue_and_the_gallery(tmp_path):
    import shutil
    import subprocess
    import sys

    source = tmp_path / "source"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "-w", str(tmp_path / "dist")],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    names = zipfile.ZipFile(next((tmp_path / "dist").glob("*.whl"))).namelist()
    assert "drcompat/jobs/environments.yaml" in names
    assert "drcompat/jobs/gallery/sample/run.sh" in names
