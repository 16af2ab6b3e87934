"""Size limits (413/414), the X-DataRobot-* headers, and the truthfulness of the cache-hit header."""

from __future__ import annotations

import bz2
import gzip
import re
import zlib

import pytest
from fastapi.testclient import TestClient

from conftest import AUTH, MULTICLASS, MULTICLASS_MODEL, REGRESSION, REGRESSION_MODEL, sample, url
from drcompat.api import create_app
from drcompat.config import Settings

CSV = {**AUTH, "Content-Type": "text/csv"}


@pytest.fixture
def small_client(bucket):
    settings = Settings(
        storage_root=bucket, max_body_bytes=4096, max_decompressed_bytes=64 * 1024, registry_ttl_seconds=0
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_body_over_limit_is_413(small_client):
    body = sample("iris_multiclass") * 20
    assert len(body) > 4096
    response = small_client.post(url(MULTICLASS), content=body, headers=CSV)
    assert response.status_code == 413
    assert "4096" in response.json()["message"]


def test_body_over_limit_without_content_length_is_413(small_client):
    def chunks():
        for _ in range(50):
            yield sample("iris_multiclass")

    response = small_client.post(url(MULTICLASS), content=chunks(), headers=CSV)
    assert response.status_code == 413


@pytest.mark.parametrize(("encoding", "compress"), [("gzip", gzip.compress), ("bz2", bz2.compress)])
def test_decompression_bomb_is_413_not_oom(small_client, encoding, compress):
    bomb = compress(b"1" * (3 * 1024 * 1024))  # 3 MB of ones, under 4 KB compressed
    assert len(bomb) < 4096
    response = small_client.post(url(MULTICLASS), content=bomb, headers={**CSV, "Content-Encoding": encoding})
    assert response.status_code == 413
    assert "decompressed" in response.json()["message"]


def test_gigabyte_gzip_bomb_with_default_limits(client):
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"0" * (1 << 20)
    bomb = b"".join(deflater.compress(zeros) for _ in range(1024)) + deflater.flush()  # 1 GiB inflated
    assert len(bomb) < Settings().max_body_bytes
    response = client.post(url(MULTICLASS), content=bomb, headers={**CSV, "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert str(Settings().max_decompressed_bytes) in response.json()["message"]


def test_request_line_over_8192_bytes_is_414(client):
    query = "&".join(f"passthroughColumns=col{i:05d}" for i in range(500))
    response = client.post(url(MULTICLASS) + "?" + query, content=sample("iris_multiclass"), headers=CSV)
    assert response.status_code == 414
    assert "8192" in response.json()["message"]


def test_request_line_just_under_limit_is_served(client):
    base = f"POST {url(MULTICLASS)}?passthroughColumns=sepal_width&x= HTTP/1.1"
    filler = "a" * (8192 - len(base))
    response = client.post(
        url(MULTICLASS) + "?passthroughColumns=sepal_width&x=" + filler, content=sample("iris_multiclass"), headers=CSV
    )
    assert response.status_code == 200, response.text


def test_headers_on_success(client):
    response = client.post(url(REGRESSION), content=sample("diabetes_regression"), headers=CSV)
    assert response.headers["X-DataRobot-Model-Id"] == REGRESSION_MODEL
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-DataRobot-Request-Id"])
    assert float(response.headers["X-DataRobot-Execution-Time"]) >= 0
    assert response.headers["X-DataRobot-Model-Cache-Hit"] in ("true", "false")
    assert "X-DataRobot-Model-Cache-Hit" in response.headers["Access-Control-Expose-Headers"]


def test_request_ids_are_unique(client):
    ids = {client.post(url(REGRESSION), content=b"", headers=CSV).headers["X-DataRobot-Request-Id"] for _ in range(5)}
    assert len(ids) == 5


def test_headers_on_errors(client):
    response = client.post(url(REGRESSION), content=b"", headers=CSV)
    assert response.status_code == 400
    assert response.headers["X-DataRobot-Model-Id"] == REGRESSION_MODEL  # the model was resolved
    assert "X-DataRobot-Request-Id" in response.headers
    unauthenticated = client.post(url(REGRESSION), content=b"")
    assert "X-DataRobot-Request-Id" in unauthenticated.headers
    assert "X-DataRobot-Model-Id" not in unauthenticated.headers  # never reveal it before auth


def test_cache_hit_is_false_then_true_per_process(client, settings):
    first = client.post(url(MULTICLASS), content=sample("iris_multiclass"), headers=CSV)
    second = client.post(url(MULTICLASS), content=sample("iris_multiclass"), headers=CSV)
    assert first.headers["X-DataRobot-Model-Cache-Hit"] == "false"
    assert second.headers["X-DataRobot-Model-Cache-Hit"] == "true"
    with TestClient(create_app(settings)) as other_process:  # caches are not shared
        third = other_process.post(url(MULTICLASS), content=sample("iris_multiclass"), headers=CSV)
    assert third.headers["X-DataRobot-Model-Cache-Hit"] == "false"


def test_warm_start_makes_first_request_a_hit(settings):
    with TestClient(create_app(settings, warm=True)) as client:
        response = client.post(url(MULTICLASS), content=sample("iris_multiclass"), headers=CSV)
    assert response.headers["X-DataRobot-Model-Cache-Hit"] == "true"
    assert response.headers["X-DataRobot-Model-Id"] == MULTICLASS_MODEL


def test_lru_eviction_reported_by_the_header(bucket):
    settings = Settings(storage_root=bucket, model_cache_max_models=1, registry_ttl_seconds=0)
    with TestClient(create_app(settings)) as client:
        a1 = client.post(url(MULTICLASS), content=sample("iris_multiclass"), headers=CSV)
        b1 = client.post(url(REGRESSION), content=sample("diabetes_regression"), headers=CSV)
        a2 = client.post(url(MULTICLASS), content=sample("iris_multiclass"), headers=CSV)
        a3 = client.post(url(MULTICLASS), content=sample("iris_multiclass"), headers=CSV)
    hits = [r.headers["X-DataRobot-Model-Cache-Hit"] for r in (a1, b1, a2, a3)]
    assert hits == ["false", "false", "false", "true"]


def test_health_and_openapi(client):
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/predApi/v1.0/deployments/{deployment_id}/predictions"]["post"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"passthroughColumns", "passthroughColumnsSet", "deployment_id"} <= names
    assert set(operation["requestBody"]["content"]) >= {"text/csv", "application/json", "multipart/form-data"}
