"""The batch engine's pieces against moto's S3 server: the chunk planner, the chunk scorer, the
in-order multipart assembly, and the Step Functions definition run by the local executor."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from conftest import AUTH, BINARY, ROOT, SAMPLES
from drcompat.api import create_app
from drcompat.batch.csv_writer import encode_frame
from drcompat.batch.files import LocalFile
from drcompat.batch.jobs import COMPLETED, FAILED, BatchJob, job_store, new_job_id
from drcompat.batch.plan import plan_chunks
from drcompat.batch.s3 import MIN_PART_BYTES, Part, S3Object, multipart_upload
from drcompat.batch.score import ScoreOptions
from drcompat.config import Settings
from drcompat_lambda.batch import build_handler, execution_starter
from drcompat_lambda.statemachine import ExecutionFailed, LocalStateMachine, load_definition
from s3_server import make_bucket, upload_tree

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:batch"


def quoted_csv(rows: int) -> bytes:
    frame = pd.read_csv(SAMPLES / "diabetes_binary.csv")
    frame = pd.concat([frame] * (rows // len(frame) + 1), ignore_index=True).iloc[:rows]
    frame["note"] = [f'a "quoted"\nnote, row {i}' if i % 3 == 0 else f"plain {i}" for i in range(rows)]
    return frame.to_csv(index=False).encode()


def test_plan_splits_only_on_record_ends_locally_and_on_s3(s3_endpoint, tmp_path):
    data = quoted_csv(2000)
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    client = make_bucket(s3_endpoint, "plan-bucket")
    client.put_object(Bucket="plan-bucket", Key="in.csv", Body=data)
    local = plan_chunks(LocalFile(path), 4096)
    remote = plan_chunks(S3Object(client, "plan-bucket", "in.csv"), 4096)
    assert local == remote
    assert len(local.chunks) > 10
    assert local.chunks[0].start == len(local.header) and local.chunks[-1].end == len(data)
    frames = [pd.read_csv(io.BytesIO(local.header + data[c.start : c.end])) for c in local.chunks]
    joined = pd.concat(frames, ignore_index=True)
    pd.testing.assert_frame_equal(joined, pd.read_csv(io.BytesIO(data)))


def test_planning_memory_is_one_block_whatever_the_size(tmp_path):
    path = tmp_path / "big.csv"
    row = b"1.5,male,2.5,3.5,4.5,5.5,6.5,7.5,8.5,9.5\n"
    with path.open("wb") as out:
        out.write(b"age,sex,bmi,bp,s1,s2,s3,s4,s5,s6\n")
        for _ in range(40):
            out.write(row * 25_000)  # 40 x 1 MB
    tracemalloc.start()
    plan = plan_chunks(LocalFile(path), 1024 * 1024)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(plan.chunks) >= 35
    assert peak < 10 * 1024 * 1024  # a 4 MiB block and its copies, not the 40 MB file


def test_multipart_assembly_keeps_order_and_copies_large_parts(s3_endpoint):
    client = make_bucket(s3_endpoint, "assemble-bucket")
    big = b"B" * (MIN_PART_BYTES + 10)
    client.put_object(Bucket="assemble-bucket", Key="parts/1", Body=big)
    pieces = [big, b"small-1\n", b"small-2\n", big, b"tail\n"]
    stored = {"Bucket": "assemble-bucket", "Key": "parts/1"}
    parts = [
        Part(len(big), lambda: pytest.fail("a large stored part is copied, not read"), stored),
        Part(len(pieces[1]), lambda: pieces[1]),
        Part(len(pieces[2]), lambda: pieces[2]),
        Part(len(big), lambda: big, stored),  # after small ones it is read, so they reach 5 MiB
        Part(len(pieces[4]), lambda: pieces[4]),
    ]
    size = multipart_upload(client, "assemble-bucket", "out.csv", parts)
    body = client.get_object(Bucket="assemble-bucket", Key="out.csv")["Body"].read()
    assert size == len(body) and body == b"".join(pieces)


@pytest.fixture
def aws(s3_endpoint, bucket: Path, tmp_path: Path):
    """The stack's bucket on moto (the demo registry and models in it) and the batch function."""
    name = f"stack-{new_job_id()}"
    client = make_bucket(s3_endpoint, name)
    upload_tree(client, name, bucket)
    settings = Settings(
        storage_backend="s3",
        bucket=name,
        s3_endpoint_url=s3_endpoint,
        registry_ttl_seconds=0.0,
        model_download_dir=tmp_path / "models",
        credentials_file=None,
    )
    definition = load_definition(ROOT / "template.yaml", "BatchStateMachine", {"BatchFunctionArn": FUNCTION})
    machine = LocalStateMachine(definition, {FUNCTION: build_handler(settings, client)}, s3=client)
    return settings, client, name, machine


def make_job(settings: Settings, bucket: str, options: ScoreOptions, chunk_bytes: int) -> BatchJob:
    job = BatchJob(
        id=new_job_id(),
        deployment_id=BINARY,
        owner="demo",
        intake={"type": "s3", "url": f"s3://{bucket}/input/in.csv", "endpointUrl": settings.s3_endpoint_url},
        output={"type": "s3", "url": f"s3://{bucket}/output/out.csv", "endpointUrl": settings.s3_endpoint_url},
        options=options,
        chunk_bytes=chunk_bytes,
        num_concurrent=2,
        spec={},
    )
    job_store(settings).save(job)
    return job


def test_state_machine_scores_s3_to_s3_in_order(aws, client):
    settings, s3, name, machine = aws
    data = quoted_csv(3000)
    s3.put_object(Bucket=name, Key="input/in.csv", Body=data)
    job = make_job(settings, name, ScoreOptions(passthrough_columns=("note",)), 16 * 1024)
    result = machine.run({"jobId": job.id, "numConcurrent": 2})
    assert result["status"] == COMPLETED
    assert machine.visited.count("ScoreChunk") > 10
    record = job_store(settings).get(job.id)
    assert (record.status, record.scored_rows, record.failed_rows) == (COMPLETED, 3000, 0)
    body = s3.get_object(Bucket=name, Key="output/out.csv")["Body"].read()
    expected = client.post(
        f"/predApi/v1.0/deployments/{BINARY}/predictions?passthroughColumns=note",
        content=data,
        headers={**AUTH, "Content-Type": "text/csv", "Accept": "text/csv"},
    )
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(body)), pd.read_csv(io.BytesIO(expected.content)))
    assert s3.list_objects_v2(Bucket=name, Prefix=f"batch/{job.id}/").get("KeyCount", 0) == 0  # cleaned up


def test_state_machine_fails_the_job_on_a_malformed_row(aws):
    settings, s3, name, machine = aws
    frame_rows = pd.read_csv(io.BytesIO(quoted_csv(600)))
    bad_row = 500  # the 500th data record, counted from 1 (quoted newlines make lines differ)
    frame_rows["bmi"] = frame_rows["bmi"].astype(object)
    frame_rows.loc[bad_row - 1, "bmi"] = "not-a-number"
    s3.put_object(Bucket=name, Key="input/in.csv", Body=frame_rows.to_csv(index=False).encode())
    job = make_job(settings, name, ScoreOptions(), 4096)
    with pytest.raises(ExecutionFailed) as failure:
        machine.run({"jobId": job.id, "numConcurrent": 2})
    assert failure.value.error == "BatchJobFailed"
    record = job_store(settings).get(job.id)
    assert record.status == FAILED
    assert record.status_details.startswith(f"Row {bad_row} of the input is malformed")
    assert "bmi" in record.status_details


def test_state_machine_records_an_unreadable_input(aws):
    settings, _, name, machine = aws
    job = make_job(settings, name, ScoreOptions(), 4096)  # input/in.csv was never written
    with pytest.raises(ExecutionFailed):
        machine.run({"jobId": job.id, "numConcurrent": 2})
    record = job_store(settings).get(job.id)
    assert record.status == FAILED and "Cannot read s3://" in record.status_details


def test_csv_writer_reads_back_as_pandas_writes_it():
    frame = pd.DataFrame(
        {
            "id": [3, 1, 2],
            "text": ['a "quoted", text', "line\nbreak", None],
            "f32a": np.array([0.6665392, np.nan, 1e-7], dtype=np.float32),
            "f32b": np.array([1.5, 2.25, 3.0], dtype=np.float32),
            "f64": [1e16, 0.1, np.nan],
            "flag": [True, False, True],
            "label": ["setosa", "virginica", "setosa"],
        }
    )
    ours = encode_frame(frame, header=True)
    theirs = frame.to_csv(index=False, lineterminator="\n").encode()
    dtypes = {"f32a": np.float32, "f32b": np.float32}
    pd.testing.assert_frame_equal(
        pd.read_csv(io.BytesIO(ours), dtype=dtypes), pd.read_csv(io.BytesIO(theirs), dtype=dtypes)
    )
    assert ours.splitlines()[1].startswith(b'3,"a ""quoted"", text",0.6665392,1.5,')
    assert encode_frame(frame.iloc[:0], header=True) == ours.split(b"\n")[0] + b"\n"
    assert encode_frame(frame, header=False, delimiter="\t").count(b"\t") == 18


def test_the_api_in_aws_starts_the_state_machine_and_reports_its_status(aws):
    settings, s3, name, machine = aws
    s3.put_object(Bucket=name, Key="input/in.csv", Body=(SAMPLES / "diabetes_binary.csv").read_bytes())
    app = create_app(settings.replace(batch_endpoint_urls=(settings.s3_endpoint_url,)))
    app.state.batch_start = lambda job: machine.run({"jobId": job.id, "numConcurrent": job.num_concurrent})
    where = {"type": "s3", "endpointUrl": settings.s3_endpoint_url}
    with TestClient(app) as api:
        local = api.post("/api/v2/batchPredictions/", json={"deploymentId": BINARY}, headers=AUTH)
        assert local.status_code == 422 and "s3" in local.json()["message"]
        body = {
            "deploymentId": BINARY,
            "intakeSettings": {**where, "url": f"s3://{name}/input/in.csv"},
            "outputSettings": {**where, "url": f"s3://{name}/output/scored.csv"},
            "chunkSize": 4096,
        }
        created = api.post("/api/v2/batchPredictions/", json=body, headers=AUTH)
        assert created.status_code == 202, created.text
        status = api.get(created.headers["Location"], headers=AUTH).json()
    assert status["status"] == "COMPLETED" and status["percentageCompleted"] == 100.0
    assert status["scoredRows"] == len(pd.read_csv(SAMPLES / "diabetes_binary.csv"))
    assert s3.head_object(Bucket=name, Key="output/scored.csv")["ContentLength"] > 0


def test_execution_starter_names_the_execution_after_the_job(s3_endpoint):
    sfn = boto3.client("stepfunctions", endpoint_url=s3_endpoint, region_name="us-east-1")
    role = "arn:aws:iam::123456789012:role/batch"
    definition = '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}'
    arn = sfn.create_state_machine(name=f"batch-{new_job_id()}", definition=definition, roleArn=role)["stateMachineArn"]
    job = BatchJob(new_job_id(), BINARY, "demo", {"type": "s3"}, {"type": "s3"}, ScoreOptions(), 4096, 3, {})
    execution_starter(arn, endpoint_url=s3_endpoint)(job)
    (execution,) = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert execution["name"] == job.id
    started = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(started["input"]) == {"jobId": job.id, "numConcurrent": 3}


def test_csv_writer_many_distinct_numbers_and_a_tab_delimiter():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.random(10_000), "n": np.arange(10_000), "t": ["a\tb"] * 10_000})
    frame.loc[7, "x"] = np.nan
    back = pd.read_csv(io.BytesIO(encode_frame(frame, header=True, delimiter="\t")), sep="\t")
    pd.testing.assert_frame_equal(back, frame)


def test_a_quoted_newline_in_the_header_or_across_blocks_is_no_record_end(tmp_path):
    from drcompat.batch.plan import BLOCK_BYTES, header_end

    header = b'"first\nname",other\n'
    note = b'"' + b"x\n" * (BLOCK_BYTES // 2) + b'"'  # a quoted field running past a block's end
    data = header + b"1,2\n" + note + b",3\n" + b"4,5\n" * 50
    path = tmp_path / "q.csv"
    path.write_bytes(data)
    assert header_end(LocalFile(path), len(data)) == len(header)
    plan = plan_chunks(LocalFile(path), 1024 * 1024)  # (the smallest chunk size)
    ends = [c.end for c in plan.chunks]
    assert plan.header == header and ends[-1] == len(data)
    assert all(data[end - 1 : end] == b"\n" and data[:end].count(b'"') % 2 == 0 for end in ends)
    frame = pd.concat([pd.read_csv(io.BytesIO(header + data[c.start : c.end])) for c in plan.chunks])
    assert len(frame) == 52
