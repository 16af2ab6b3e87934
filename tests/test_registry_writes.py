"""One writer discipline for deployments.yaml: compare-and-swap across threads, processes and
S3 clients; no lost update; cut-short files refused; rollback validated; tokens valid at once."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import BINARY, BINARY_MODEL, DEMO_BUCKET
from drcompat.auth import authenticate
from drcompat.deployments import DEPLOYMENTS_KEY, DeploymentRegistry
from drcompat.errors import ApiError
from drcompat.jobs.publish import rollback
from drcompat.jobs.tokens import issue_run_token, revoke_run_token
from drcompat.registry import update_registry
from drcompat.registry.writer import RegistryError
from drcompat.storage import LocalStorage, Storage, StorageConflict
from drcompat.storage.overlay import OverlayStorage
from drcompat.storage.s3 import S3Storage
from s3_server import make_bucket, upload_tree


def add_token(storage: Storage, name: str) -> None:
    def add(document: dict) -> None:
        document.setdefault("tokens", {})[name] = {"sha256": hashlib.sha256(name.encode()).hexdigest()}

    update_registry(storage, add)


def token_names(storage: Storage) -> set[str]:
    return set(yaml.safe_load(storage.read(DEPLOYMENTS_KEY))["tokens"])


def _add_many(root: str, worker: int, count: int) -> None:
    storage = LocalStorage(root)
    for i in range(count):
        add_token(storage, f"p{worker}-{i}")


def test_concurrent_writers_in_separate_processes_lose_nothing(bucket):
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_add_many, args=(str(bucket), w, 15)) for w in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    names = token_names(LocalStorage(bucket))
    assert {f"p{w}-{i}" for w in range(4) for i in range(15)} <= names
    document = yaml.safe_load((bucket / DEPLOYMENTS_KEY).read_text())
    assert document["revision"] == 60
    assert document["integrity"] == {"deployments": len(document["deployments"]), "tokens": len(names)}


@pytest.fixture
def s3_bucket(s3_endpoint, tmp_path):
    name = f"drcompat-registry-{tmp_path.name.lower().replace('_', '-')[:30]}"
    client = make_bucket(s3_endpoint, name)
    upload_tree(client, name, DEMO_BUCKET)
    return lambda: S3Storage(name, "", s3_endpoint, tmp_path / "downloads")


def test_concurrent_writers_on_s3_use_conditional_writes(s3_bucket):
    stores = [s3_bucket() for _ in range(4)]  # four "containers", each its own client

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda w: [add_token(stores[w], f"s3-{w}-{i}") for i in range(8)], range(4)))
    assert {f"s3-{w}-{i}" for w in range(4) for i in range(8)} <= token_names(stores[0])


def test_a_stale_precondition_is_refused_by_every_backend(s3_bucket, bucket, tmp_path):
    overlay = OverlayStorage(LocalStorage(tmp_path / "data"), LocalStorage(bucket))
    for storage in (LocalStorage(bucket), s3_bucket(), overlay):
        data, precondition = storage.read_for_update(DEPLOYMENTS_KEY)
        assert data is not None
        storage.write_if(DEPLOYMENTS_KEY, data + b"\n", precondition)
        with pytest.raises(StorageConflict):
            storage.write_if(DEPLOYMENTS_KEY, data, precondition)
        fresh, newer = storage.read_for_update(DEPLOYMENTS_KEY)
        assert fresh == data + b"\n"
        storage.write_if(DEPLOYMENTS_KEY, data, newer)
    assert (tmp_path / "data" / DEPLOYMENTS_KEY).is_file()  # the overlay wrote its upper folder only


def test_concurrent_rollbacks_each_take_a_distinct_version(bucket):
    storage = LocalStorage(bucket)
    versions = []
    for i in range(10):  # ten loadable previous versions, each a copy of the demo model
        model_id = f"65f1d{i:019x}"
        shutil.copytree(bucket / "models" / BINARY_MODEL, bucket / "models" / model_id)
        path = bucket / "models" / model_id / "model.yaml"
        path.write_text(path.read_text().replace(BINARY_MODEL, model_id))
        versions.append(model_id)

    def history(document: dict) -> None:
        document["deployments"][BINARY]["previousModelIds"] = versions

    update_registry(storage, history)
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: rollback(LocalStorage(bucket), BINARY), range(10)))
    assert sorted(answers) == sorted(versions)
    entry = yaml.safe_load((bucket / DEPLOYMENTS_KEY).read_text())["deployments"][BINARY]
    assert entry["modelId"] == versions[-1]
    assert entry["previousModelIds"] == []


def test_rollback_onto_a_model_that_cannot_load_is_refused(bucket):
    storage = LocalStorage(bucket)
    shutil.copytree(bucket / "models" / BINARY_MODEL, bucket / "models" / "65f1e0000000000000000001")
    (bucket / "models" / "65f1e0000000000000000001" / "model.onnx").write_bytes(b"not onnx")

    def history(document: dict) -> None:
        document["deployments"][BINARY]["previousModelIds"] = ["65f1e0000000000000000001"]

    update_registry(storage, history)
    with pytest.raises(ApiError) as error:
        rollback(storage, BINARY)
    assert error.value.status == 400
    assert "65f1e0000000000000000001" in error.value.message
    assert yaml.safe_load((bucket / DEPLOYMENTS_KEY).read_text())["deployments"][BINARY]["modelId"] == BINARY_MODEL


def test_a_write_may_not_drop_deployments_unless_it_says_so(bucket):
    storage = LocalStorage(bucket)

    def drop(document: dict) -> None:
        del document["deployments"][BINARY]

    with pytest.raises(RegistryError, match=BINARY):
        update_registry(storage, drop)
    assert BINARY in yaml.safe_load((bucket / DEPLOYMENTS_KEY).read_text())["deployments"]
    update_registry(storage, drop, removing=[BINARY])
    assert BINARY not in yaml.safe_load((bucket / DEPLOYMENTS_KEY).read_text())["deployments"]


def test_a_registry_cut_at_a_line_boundary_is_refused_and_named(bucket, caplog):
    storage = LocalStorage(bucket)
    add_token(storage, "sealed")  # written by the writer: revision first, integrity last
    registry = DeploymentRegistry(storage, ttl_seconds=0.0)
    before = set(registry.snapshot().deployments)
    text = (bucket / DEPLOYMENTS_KEY).read_text()
    lines = text.splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if line.startswith("  65f1a0000000000000000003"))
    (bucket / DEPLOYMENTS_KEY).write_text("".join(lines[:cut]))
    assert yaml.safe_load((bucket / DEPLOYMENTS_KEY).read_text())  # still valid YAML
    with caplog.at_level(logging.ERROR, logger="drcompat.deployments"):
        assert set(registry.snapshot().deployments) == before  # the last good copy stays
    assert "cut short" in caplog.text
    assert "65f1a0000000000000000003" in caplog.text


def test_a_run_token_works_at_once_in_the_process_that_issued_it(bucket):
    storage = LocalStorage(bucket)
    registry = DeploymentRegistry(storage, ttl_seconds=3600.0)  # would not re-read for an hour
    registry.snapshot()
    name, token = issue_run_token(storage, BINARY, "r1", 60)
    assert authenticate(registry.snapshot(), token) == name
    assert name in registry.snapshot().deployments[BINARY].tokens
    revoke_run_token(storage, name)
    with pytest.raises(ApiError):
        authenticate(registry.snapshot(), token)


def test_tokens_issued_concurrently_are_all_valid(bucket):
    storage = LocalStorage(bucket)
    with ThreadPoolExecutor(8) as pool:
        issued = list(pool.map(lambda i: issue_run_token(LocalStorage(bucket), BINARY, f"c{i}", 60), range(16)))
    snapshot = DeploymentRegistry(storage, 0.0).snapshot()
    assert {authenticate(snapshot, token) for _, token in issued} == {name for name, _ in issued}


def test_lock_files_are_not_listed(bucket):
    add_token(LocalStorage(bucket), "x")
    assert not [k for k in LocalStorage(bucket).list("") if k.endswith(".lock")]
    assert Path(bucket / ".deployments.yaml.lock").exists()
