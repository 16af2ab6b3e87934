"""One storage suite, run against the local folder and against S3 (moto's server over HTTP)."""

from __future__ import annotations

import itertools
import json

import boto3
import pytest
from fastapi.testclient import TestClient

from conftest import AUTH, DEMO_BUCKET, MULTICLASS, REGRESSION, REGRESSION_MODEL, sample, url
from drcompat.api import create_app
from drcompat.config import Settings
from drcompat.storage import LocalStorage, Storage, StorageKeyError, StorageLimitError
from drcompat.storage.overlay import OverlayStorage
from drcompat.storage.s3 import S3Storage
from onnx_factory import linear_regression, publish
from s3_server import make_bucket, upload_tree

CSV = {**AUTH, "Content-Type": "text/csv"}
_names = itertools.count()


def new_bucket(endpoint: str) -> str:
    name = f"drcompat-test-{next(_names)}"
    make_bucket(endpoint, name)
    return name


@pytest.fixture(params=["local", "s3", "s3-prefixed"])
def store(request, tmp_path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "bucket")
    endpoint = request.getfixturevalue("s3_endpoint")
    prefix = "team-a/prod" if request.param == "s3-prefixed" else ""
    return S3Storage(new_bucket(endpoint), prefix, endpoint, tmp_path / "downloads")


def test_read_write_roundtrip(store):
    store.write("deployments.yaml", b"one")
    assert store.read("deployments.yaml") == b"one"
    store.write("deployments.yaml", b"two")
    assert store.read("deployments.yaml") == b"two"


def test_missing_keys(store):
    with pytest.raises(StorageKeyError):
        store.read("nope.yaml")
    with pytest.raises(StorageKeyError):
        store.read("models/abc/model.onnx")
    assert store.version("nope.yaml") is None


def test_version_changes_with_content(store):
    store.write("deployments.yaml", b"one")
    first = store.version("deployments.yaml")
    assert first is not None and store.version("deployments.yaml") == first
    store.write("deployments.yaml", b"two, longer")
    assert store.version("deployments.yaml") != first


def test_list_under_prefix(store):
    for key in ["models/a/model.onnx", "models/a/model.yaml", "models/b/model.onnx", "deployments.yaml"]:
        store.write(key, b"x")
    assert store.list("models/a") == ["models/a/model.onnx", "models/a/model.yaml"]
    assert len(store.list("")) == 4


def test_keys_that_escape_are_refused(store):
    for key in ["../x", "/x", "a/../../x"]:
        with pytest.raises(StorageKeyError):
            store.read(key)


def test_s3_model_files_download_once_to_the_local_folder(s3_endpoint, tmp_path):
    bucket = new_bucket(s3_endpoint)
    s3 = S3Storage(bucket, "", s3_endpoint, tmp_path / "dl")
    s3.write("models/m1/model.onnx", b"graph-bytes")
    assert s3.read("models/m1/model.onnx") == b"graph-bytes"
    assert (tmp_path / "dl" / "models" / "m1" / "model.onnx").read_bytes() == b"graph-bytes"
    s3.client.delete_object(Bucket=bucket, Key="models/m1/model.onnx")
    assert s3.read("models/m1/model.onnx") == b"graph-bytes"  # served from the warm container's copy


def test_s3_size_limit_is_checked_before_download(s3_endpoint, tmp_path):
    s3 = S3Storage(new_bucket(s3_endpoint), "", s3_endpoint, tmp_path / "dl", max_object_bytes=10)
    s3.write("models/m1/model.onnx", b"x" * 11)
    with pytest.raises(StorageLimitError):
        s3.read("models/m1/model.onnx")
    assert not (tmp_path / "dl" / "models" / "m1" / "model.onnx").exists()


def test_overlay_prefers_layer_for_models_and_bucket_for_the_rest(s3_endpoint, tmp_path):
    layer = LocalStorage(tmp_path / "layer")
    layer.write("models/m1/model.onnx", b"from-layer")
    layer.write("deployments.yaml", b"layer-registry")
    bucket = S3Storage(new_bucket(s3_endpoint), "", s3_endpoint, tmp_path / "dl")
    overlay = OverlayStorage(bucket, layer)
    assert overlay.read("deployments.yaml") == b"layer-registry"  # empty bucket: the layer's copy
    bucket.write("models/m1/model.onnx", b"from-bucket")
    bucket.write("deployments.yaml", b"bucket-registry")
    assert overlay.read("models/m1/model.onnx") == b"from-layer"
    assert overlay.read("deployments.yaml") == b"bucket-registry"
    overlay.write("models/m2/model.onnx", b"new")
    assert bucket.read("models/m2/model.onnx") == b"new"
    assert "models/m2/model.onnx" in overlay.list("models")


@pytest.fixture
def s3_settings(s3_endpoint, tmp_path) -> Settings:
    bucket = new_bucket(s3_endpoint)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    upload_tree(client, bucket, DEMO_BUCKET, "prod/")
    return Settings(
        storage_backend="s3",
        bucket=bucket,
        bucket_prefix="prod",
        s3_endpoint_url=s3_endpoint,
        model_download_dir=tmp_path / "dl",
        registry_ttl_seconds=0,
    )


def test_api_served_from_s3_and_new_version_reaches_a_warm_process(s3_settings, tmp_path):
    with TestClient(create_app(s3_settings)) as client:
        first = client.post(url(REGRESSION), content=sample("diabetes_regression"), headers=CSV)
        assert first.status_code == 200, first.text
        assert first.headers["X-DataRobot-Model-Id"] == REGRESSION_MODEL
        # publish a version into the bucket the way a retraining job will: model files, then the pointer
        staging = tmp_path / "staging"
        (staging / "models").mkdir(parents=True)
        publish(staging, "65f1b00000000000000000bb", linear_regression([0.0] * 9, 42.0))
        store = S3Storage(s3_settings.bucket, "prod", s3_settings.s3_endpoint_url, tmp_path / "other")
        for path in (staging / "models" / "65f1b00000000000000000bb").iterdir():
            store.write(f"models/65f1b00000000000000000bb/{path.name}", path.read_bytes())
        registry = store.read("deployments.yaml").decode().replace(REGRESSION_MODEL, "65f1b00000000000000000bb")
        store.write("deployments.yaml", registry.encode())
        second = client.post(url(REGRESSION), content=sample("diabetes_regression"), headers=CSV)
        assert second.headers["X-DataRobot-Model-Id"] == "65f1b00000000000000000bb"
        assert {row["prediction"] for row in second.json()["data"]} == {42.0}


def test_api_over_s3_with_models_layer_downloads_nothing_bundled(s3_endpoint, tmp_path):
    bucket = new_bucket(s3_endpoint)
    settings = Settings(
        storage_backend="s3",
        bucket=bucket,
        s3_endpoint_url=s3_endpoint,
        layer_root=DEMO_BUCKET,
        model_download_dir=tmp_path / "dl",
        registry_ttl_seconds=0,
    )
    with TestClient(create_app(settings)) as client:
        response = client.post(url(MULTICLASS), content=sample("iris_multiclass"), headers=CSV)
    assert response.status_code == 200, response.text
    assert not (tmp_path / "dl").exists() or not any((tmp_path / "dl").rglob("*.onnx"))


def test_unreachable_s3_is_a_clean_503(tmp_path):
    settings = Settings(
        storage_backend="s3", bucket="nowhere", s3_endpoint_url="http://127.0.0.1:9", registry_ttl_seconds=0
    )
    with TestClient(create_app(settings)) as client:
        response = client.post(url(MULTICLASS), content=sample("iris_multiclass"), headers=CSV)
    assert response.status_code == 503
    assert "registry" in response.json()["message"]


def test_eventbridge_schedule_per_policy_on_moto(s3_endpoint, bucket):
    from drcompat.jobs.service import JobService
    from drcompat.jobs.templates import GALLERY
    from drcompat_lambda.schedules import PREFIX, EventBridgeSchedules

    schedules = EventBridgeSchedules(
        "arn:aws:lambda:us-east-1:123456789012:function:JobRunnerFunction",
        "arn:aws:iam::123456789012:role/drcompat-scheduler",
        endpoint_url=s3_endpoint,
    )
    jobs = JobService(LocalStorage(bucket), schedules=schedules)
    files = {p.name: p.read_bytes() for p in (GALLERY / "sample").iterdir() if p.is_file()}
    job = jobs.create_job("sample", files)
    policy = jobs.attach_policy("65f1a0000000000000000001", job["id"], "cron(0 4 * * ? *)")
    client = boto3.client("scheduler", endpoint_url=s3_endpoint, region_name="us-east-1")
    found = client.get_schedule(Name=PREFIX + policy["id"])
    assert found["ScheduleExpression"] == "cron(0 4 * * ? *)"
    assert json.loads(found["Target"]["Input"]) == {"action": "run-policy", "policyId": policy["id"]}
    schedules.upsert({**policy, "schedule": "rate(2 hours)"})  # an update, not a conflict
    assert client.get_schedule(Name=PREFIX + policy["id"])["ScheduleExpression"] == "rate(2 hours)"
    schedules.delete(policy["id"])
    schedules.delete(policy["id"])  # already gone: no error


def test_secrets_manager_credential_store_on_moto(s3_endpoint):
    from drcompat.jobs.credentials import CredentialError, SecretsManagerCredentialStore
    from drcompat.jobs.metadata import parse_metadata
    from drcompat.jobs.parameters import resolve

    client = boto3.client("secretsmanager", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_secret(
        Name="drcompat/credentials/warehouse",
        SecretString=json.dumps(
            {"credentialType": "s3", "awsAccessKeyId": "AKIA-TEST", "awsSecretAccessKey": "s3cr3t"}
        ),
    )
    client.create_secret(Name="drcompat/credentials/broken", SecretString=json.dumps({"credentialType": "s3"}))
    store = SecretsManagerCredentialStore("drcompat/credentials/", endpoint_url=s3_endpoint)
    meta = parse_metadata("runtimeParameterDefinitions:\n- fieldName: data\n  type: credential\n  credentialType: s3\n")
    payload = resolve(meta, {"data": "warehouse"}, credentials=store)[0].payload
    assert payload["awsSecretAccessKey"] == "s3cr3t" and payload["name"] == "warehouse"
    with pytest.raises(CredentialError, match="No credential named"):
        store.get("absent")
    with pytest.raises(CredentialError, match="needs awsAccessKeyId"):
        store.get("broken")


def test_delete_removes_and_absent_is_fine(store):
    store.write("jobs/a/job.yaml", b"x")
    store.delete("jobs/a/job.yaml")
    store.delete("jobs/a/job.yaml")
    assert store.list("jobs/") == [] and store.version("jobs/a/job.yaml") is None
