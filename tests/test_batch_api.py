"""Batch predictions through DataRobot's official client, unchanged, over a real socket."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import datarobot as dr
import pandas as pd
import pytest
import yaml
from datarobot.errors import ClientError
from fastapi.testclient import TestClient

from conftest import AUTH, BINARY, MULTICLASS, REGRESSION, SAMPLES, TOKEN, serving
from drcompat.api import create_app
from drcompat.config import Settings
from s3_server import make_bucket


@pytest.fixture
def batch_settings(bucket: Path, tmp_path: Path, s3_endpoint: str) -> Settings:
    credentials = tmp_path / "credentials.yaml"
    credentials.write_text(
        yaml.safe_dump({"moto": {"credentialType": "s3", "awsAccessKeyId": "testing", "awsSecretAccessKey": "testing"}})
    )
    credentials.chmod(0o600)
    return Settings(
        storage_root=bucket,
        registry_ttl_seconds=0.0,
        batch_root=tmp_path / "batch",
        credentials_file=credentials,
        batch_endpoint_urls=(s3_endpoint,),
    )


@pytest.fixture
def server(batch_settings: Settings) -> Iterator[str]:
    with serving(batch_settings) as base:
        yield base


@pytest.fixture
def client(batch_settings: Settings) -> Iterator[TestClient]:
    """The test client over the same batch folder as the server (so both see the same jobs)."""
    with TestClient(create_app(batch_settings)) as test_client:
        yield test_client


@pytest.fixture
def dr_client(server: str) -> dr.Client:
    return dr.Client(endpoint=f"{server}/api/v2", token=TOKEN)


def expected_csv(client, deployment: str, body: bytes, query: str = "") -> pd.DataFrame:
    answer = client.post(
        f"/predApi/v1.0/deployments/{deployment}/predictions{query}",
        content=body,
        headers={**AUTH, "Content-Type": "text/csv", "Accept": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    return pd.read_csv(io.BytesIO(answer.content))


def test_score_local_file_to_local_file_with_passthrough(dr_client, client, tmp_path):
    source = SAMPLES / "diabetes_binary.csv"
    target = tmp_path / "scored.csv"
    job = dr.BatchPredictionJob.score(
        BINARY,
        intake_settings={"type": "localFile", "file": str(source)},
        output_settings={"type": "localFile", "path": str(target)},
        passthrough_columns=["age", "sex"],
        chunk_size=2048,  # several chunks, to prove they come back in order
    )
    status = job.get_status()
    assert status["status"] == "COMPLETED"
    assert status["percentage_completed"] == 100.0
    assert status["scored_rows"] == len(pd.read_csv(source))
    assert status["failed_rows"] == 0
    assert set(status["links"]) >= {"self", "download"}
    scored = pd.read_csv(target)
    expected = expected_csv(client, BINARY, source.read_bytes(), "?passthroughColumns=age&passthroughColumns=sex")
    assert list(scored.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(scored, expected)


def test_predict_batch_dataframe_every_row_in_order(dr_client, client):
    frame = pd.read_csv(SAMPLES / "iris_multiclass.csv")
    frame = pd.concat([frame] * 20, ignore_index=True)  # 3,000 rows
    frame.index = frame.index * 3 + 7  # the client joins on the index it passes through
    deployment = dr.Deployment(id=MULTICLASS)
    result = deployment.predict_batch(frame)
    assert len(result) == len(frame)
    assert list(result.index) == list(frame.index)
    expected = expected_csv(client, MULTICLASS, frame.to_csv(index=False).encode())
    for column in expected.columns:
        assert column in result.columns
        left, right = result[column].to_numpy(), expected[column].to_numpy()
        if left.dtype.kind == "f":
            assert abs(left - right).max() < 1e-6
        else:
            assert (left == right).all()
    for column in frame.columns:  # the DataFrame's own columns come back beside the predictions
        assert (result[column].to_numpy() == frame[column].to_numpy()).all()


def test_score_pandas_with_passthrough_set_all(dr_client):
    frame = pd.read_csv(SAMPLES / "diabetes_regression.csv")
    job, result = dr.BatchPredictionJob.score_pandas(REGRESSION, frame, passthrough_columns_set="all")
    assert job.get_status()["status"] == "COMPLETED"
    assert len(result) == len(frame)
    assert "progression_PREDICTION" in result.columns


def test_multipart_upload_and_job_listing(dr_client, tmp_path):
    source = SAMPLES / "diabetes_binary.csv"
    target = tmp_path / "out.csv"
    dr.BatchPredictionJob.score(
        BINARY,
        intake_settings={"type": "localFile", "file": str(source), "multipart": True},
        output_settings={"type": "localFile", "path": str(target)},
        passthrough_columns_set="all",
    )
    scored = pd.read_csv(target)
    original = pd.read_csv(source)
    assert len(scored) == len(original)
    pd.testing.assert_frame_equal(scored[list(original.columns)], original)
    jobs = dr.BatchPredictionJob.list_by_status(["COMPLETED"])
    assert len(jobs) == 1


def test_malformed_rows_fail_alone_with_prediction_status(dr_client, tmp_path):
    lines = (SAMPLES / "diabetes_binary.csv").read_text().splitlines()
    lines[3] = lines[3] + ",extra,fields"
    lines[5] = lines[5].replace(lines[5].split(",")[2], "not-a-number", 1)
    source = tmp_path / "bad.csv"
    source.write_text("\n".join(lines) + "\n")
    target = tmp_path / "out.csv"
    job = dr.BatchPredictionJob.score(
        BINARY,
        intake_settings={"type": "localFile", "file": str(source)},
        output_settings={"type": "localFile", "path": str(target)},
        include_prediction_status=True,
        passthrough_columns=["age"],
    )
    status = job.get_status()
    assert status["status"] == "COMPLETED"
    assert status["failed_rows"] == 2
    assert status["scored_rows"] == len(lines) - 3
    scored = pd.read_csv(target)
    assert len(scored) == len(lines) - 1
    assert "fields" in scored.loc[2, "prediction_status"]
    assert "bmi" in scored.loc[4, "prediction_status"] and "not-a-number" in scored.loc[4, "prediction_status"]
    assert (scored.drop(index=[2, 4])["prediction_status"] == "OK").all()
    assert pd.isna(scored.loc[2, "progression_high_PREDICTION"])


def test_malformed_row_fails_the_job_by_default(dr_client, tmp_path):
    lines = (SAMPLES / "diabetes_binary.csv").read_text().splitlines()
    lines[7] = lines[7] + ",1"
    source = tmp_path / "bad.csv"
    source.write_text("\n".join(lines) + "\n")
    with pytest.raises(RuntimeError) as error:
        dr.BatchPredictionJob.score(
            BINARY,
            intake_settings={"type": "localFile", "file": str(source)},
            output_settings={"type": "localFile", "path": str(tmp_path / "out.csv")},
        )
    assert "Row 7 of the input is malformed: The row has 11 fields" in str(error.value)
    (failed,) = dr.BatchPredictionJob.list_by_status(["FAILED"])  # raw records, as the client returns them
    assert failed["status"] == "FAILED" and "Row 7" in failed["statusDetails"]


def test_quoted_newlines_never_split_a_record(dr_client, tmp_path):
    frame = pd.read_csv(SAMPLES / "diabetes_binary.csv")
    frame["note"] = [f'line one\nline "two" of row {i}' for i in range(len(frame))]
    source = tmp_path / "quoted.csv"
    frame.to_csv(source, index=False)
    target = tmp_path / "out.csv"
    dr.BatchPredictionJob.score(
        BINARY,
        intake_settings={"type": "localFile", "file": str(source)},
        output_settings={"type": "localFile", "path": str(target)},
        passthrough_columns=["note"],
        chunk_size=1024,
    )
    scored = pd.read_csv(target)
    assert list(scored["note"]) == list(frame["note"])


def test_bad_job_specs_are_refused_with_a_message(dr_client, client):
    with pytest.raises(ClientError) as error:
        dr.BatchPredictionJob.score(
            BINARY,
            intake_settings={"type": "s3", "url": "s3://bucket/in.csv", "endpoint_url": "http://169.254.169.254/"},
        )
    assert error.value.status_code == 422
    for body, status in (
        ({"deploymentId": BINARY, "passthroughColumns": ["a"], "passthroughColumnsSet": "all"}, 422),
        ({"deploymentId": BINARY, "chunkSize": 10}, 422),
        ({"deploymentId": BINARY, "csvSettings": {"encoding": "no-such-codec"}}, 422),
        ({"deploymentId": "65f1a00000000000000000ff"}, 404),
        ({}, 422),
    ):
        answer = client.post("/api/v2/batchPredictions/", json=body, headers=AUTH)
        assert answer.status_code == status, body
        assert answer.json()["message"]
    assert client.post("/api/v2/batchPredictions/", json={"deploymentId": BINARY}).status_code == 401
    assert client.get("/api/v2/batchPredictions/nosuchjob/", headers=AUTH).status_code == 404


def test_abort_a_job_waiting_for_data(dr_client, client):
    answer = dr_client.post("batchPredictions/", json={"deploymentId": BINARY})
    assert answer.status_code == 202
    job_id = answer.headers["Location"].rstrip("/").split("/")[-1]
    job = dr.BatchPredictionJob.get(job_id)
    assert job.get_status()["status"] == "INITIALIZING"
    job.delete()
    assert dr.BatchPredictionJob.get(job_id).get_status()["status"] == "ABORTED"
    upload = client.put(f"/api/v2/batchPredictions/{job_id}/csvUpload/", content=b"a\n1\n", headers=AUTH)
    assert upload.status_code == 422


@pytest.mark.parametrize("credential", ["moto", None])  # a stored credential, or the default chain
def test_s3_to_s3_job(dr_client, client, s3_endpoint, credential):
    name = f"batch-{credential or 'role'}"
    s3 = make_bucket(s3_endpoint, name)
    frame = pd.concat([pd.read_csv(SAMPLES / "diabetes_binary.csv")] * 30, ignore_index=True)
    data = frame.to_csv(index=False).encode()
    s3.put_object(Bucket=name, Key="in/data.csv", Body=data)
    job = dr.BatchPredictionJob.score_s3(
        BINARY,
        source_url=f"s3://{name}/in/data.csv",
        destination_url=f"s3://{name}/out/scored.csv",
        credential=credential,
        endpoint_url=s3_endpoint,
        passthrough_columns=["age"],
        chunk_size=16 * 1024,
    )
    deadline = time.monotonic() + 60
    while (status := job.get_status())["status"] not in ("COMPLETED", "FAILED", "ABORTED"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status["status"] == "COMPLETED", status["status_details"]
    assert status["scored_rows"] == len(frame)
    assert status["job_spec"]["intake_settings"]["type"] == "s3"
    body = s3.get_object(Bucket=name, Key="out/scored.csv")["Body"].read()
    expected = expected_csv(client, BINARY, data, "?passthroughColumns=age")
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(body)), expected)


def test_s3_job_with_an_unknown_credential_fails_with_a_clear_status(dr_client, s3_endpoint):
    job = dr.BatchPredictionJob.score_s3(
        BINARY,
        source_url="s3://nowhere/in.csv",
        destination_url="s3://nowhere/out.csv",
        credential="no-such-credential",
        endpoint_url=s3_endpoint,
    )
    deadline = time.monotonic() + 30
    while (status := job.get_status())["status"] not in ("COMPLETED", "FAILED", "ABORTED"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status["status"] == "FAILED"
    assert "no-such-credential" in status["status_details"]


def test_download_streams_parts_in_order_while_the_job_runs(client):
    runner = client.app.state.batch_runner()
    score = runner.task
    runner.task = lambda task: (time.sleep(0.2), score(task))[1]  # slow chunks: the download waits for them
    created = client.post("/api/v2/batchPredictions/", json={"deploymentId": BINARY, "chunkSize": 2048}, headers=AUTH)
    job_url = created.headers["Location"]
    source = (SAMPLES / "diabetes_binary.csv").read_bytes()
    assert client.put(created.json()["links"]["csvUpload"], content=source, headers=AUTH).status_code == 202
    deadline = time.monotonic() + 30
    while "download" not in (status := client.get(job_url, headers=AUTH).json())["links"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status["status"] == "RUNNING"
    body = client.get(status["links"]["download"], headers=AUTH).content
    assert pd.read_csv(io.BytesIO(body)).equals(expected_csv(client, BINARY, source))


def test_abort_a_running_job_stops_it_and_removes_its_data(client, batch_settings):
    runner = client.app.state.batch_runner()
    score = runner.task
    runner.task = lambda task: (time.sleep(0.2), score(task))[1]
    created = client.post("/api/v2/batchPredictions/", json={"deploymentId": BINARY, "chunkSize": 1024}, headers=AUTH)
    job_url = created.headers["Location"]
    source = (SAMPLES / "diabetes_binary.csv").read_bytes()
    client.put(created.json()["links"]["csvUpload"], content=source, headers=AUTH)
    deadline = time.monotonic() + 30
    while client.get(job_url, headers=AUTH).json()["status"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    aborted = client.delete(job_url, headers=AUTH)
    assert aborted.status_code == 202 and aborted.json()["status"] == "ABORTED"
    job_id = job_url.rstrip("/").split("/")[-1]
    while (batch_settings.batch_root / "data" / job_id).exists():  # the coordinator cleans up as it stops
        assert time.monotonic() < deadline
        time.sleep(0.05)
    status = client.get(job_url, headers=AUTH).json()
    assert status["status"] == "ABORTED" and status["statusDetails"] == "Job aborted by the user."
    assert status["scoredRows"] < 442
