"""The predict Lambda handler, invoked in-process with the same event files `sam local invoke -e` uses."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import logging
import os
import sys
from types import ModuleType, SimpleNamespace

import pytest

from conftest import BINARY_MODEL, MULTICLASS_MODEL, ROOT

EVENTS = ROOT / "events"


def load_handler(function: str) -> ModuleType:
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"lambda_{function}_app", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def predict():
    return load_handler("predict")


def context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="PredictFunction",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:PredictFunction",
        memory_limit_in_mb=1024,
        aws_request_id="0f6e7c2a-0000-4000-8000-000000000000",
        log_group_name="/aws/lambda/PredictFunction",
        log_stream_name="stream",
        get_remaining_time_in_millis=lambda: 30_000,
    )


def invoke(module: ModuleType, name: str) -> tuple[dict, dict]:
    return invoke_event(module, json.loads((EVENTS / name).read_text()))


def invoke_event(module: ModuleType, event: dict) -> tuple[dict, dict]:
    response = module.handler(event, context())
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    headers = {k.lower(): v for k, v in response["headers"].items()}
    return {"status": response["statusCode"], "headers": headers}, json.loads(body)


PREDICT_EVENTS = sorted(p.name for p in EVENTS.glob("predict-*.json"))


@pytest.mark.parametrize("name", PREDICT_EVENTS)
def test_every_predict_event_file_is_answered(predict, name):
    event = json.loads((EVENTS / name).read_text())
    response = predict.handler(event, context())
    assert response["statusCode"] == 200, response["body"]
    body = base64.b64decode(response["body"]) if response.get("isBase64Encoded") else response["body"].encode()
    expected_rows = {"predict-json.json": 2, "predict-timeseries.json": 21}.get(name, 20)
    if event["headers"].get("Accept") == "text/csv":
        assert response["headers"]["content-type"].startswith("text/csv")
        assert len(body.decode().strip().splitlines()) == expected_rows + 1
    else:
        assert len(json.loads(body)["data"]) == expected_rows


def test_plain_text_bodies_work_too(predict):
    """The same handler serves an API whose gateway passes text bodies unencoded."""
    event = json.loads((EVENTS / "predict-json.json").read_text())
    event["body"], event["isBase64Encoded"] = base64.b64decode(event["body"]).decode(), False
    meta, body = invoke_event(predict, event)
    assert meta["status"] == 200 and len(body["data"]) == 2


def test_csv_event_with_passthrough(predict):
    meta, body = invoke(predict, "predict-csv.json")
    assert meta["status"] == 200
    assert meta["headers"]["x-datarobot-model-id"] == BINARY_MODEL
    assert meta["headers"]["x-datarobot-model-cache-hit"] == "true"  # bundled models warmed at import
    assert len(body["data"]) == 20
    assert set(body["data"][0]["passthroughValues"]) == {"age", "sex"}


def test_base64_gzip_event_gives_the_same_answer(predict):
    _, plain = invoke(predict, "predict-csv.json")
    meta, gz = invoke(predict, "predict-csv-gzip.json")
    assert meta["status"] == 200
    assert [r["predictionValues"] for r in gz["data"]] == [r["predictionValues"] for r in plain["data"]]


def test_json_event(predict):
    meta, body = invoke(predict, "predict-json.json")
    assert meta["status"] == 200
    assert meta["headers"]["x-datarobot-model-id"] == MULTICLASS_MODEL
    assert [r["prediction"] for r in body["data"]] == ["setosa", "virginica"]


def test_error_event_is_a_json_message(predict):
    event = json.loads((EVENTS / "predict-json.json").read_text())
    event["headers"]["Authorization"] = event["multiValueHeaders"]["Authorization"][0] = "Bearer wrong"
    response = predict.handler(event, context())
    assert response["statusCode"] == 401
    assert json.loads(response["body"]) == {"message": "Invalid API key."}


def json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


def test_structured_logs_carry_the_request_id_and_metrics_are_emf(predict, capsys):
    log_stream = io.StringIO()
    for handler in logging.getLogger("drcompat-predict").handlers:
        handler.setStream(log_stream)  # type: ignore[attr-defined]
    event = json.loads((EVENTS / "predict-csv.json").read_text())
    predict.handler(event, context())
    bad = json.loads((EVENTS / "predict-json.json").read_text())
    bad["body"] = base64.b64encode(b"[{").decode()
    predict.handler(bad, context())
    records = json_lines(capsys.readouterr().out + log_stream.getvalue())
    emf = [r for r in records if "_aws" in r]
    main = [r for r in emf if "Requests" in r]
    assert len(main) == 2
    first = {k: v[0] if isinstance(v, list) else v for k, v in main[0].items()}
    assert first["Rows"] == 20 and first["ModelCacheHits"] == 1 and first["Latency"] > 0
    assert main[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "drcompat"
    errors = [r for r in emf if "Errors" in r]
    assert len(errors) == 1 and errors[0]["Status"] == "400" and errors[0]["Route"] == "predictions"
    logs = [r for r in records if r.get("message") == "request served"]
    assert [r["status"] for r in logs] == [200, 400]
    assert all(r["correlation_id"] == event["requestContext"]["requestId"] for r in logs)
    assert logs[0]["rows"] == 20 and logs[0]["model_cache_hit"] is True
    assert all("demo-token" not in json.dumps(r) for r in records)  # the token never reaches the logs


def test_jobrunner_scheduler_events(bucket, monkeypatch):
    from drcompat.jobs.service import JobService
    from drcompat.jobs.templates import GALLERY
    from drcompat.storage import LocalStorage

    monkeypatch.setenv("DRC_STORAGE_ROOT", str(bucket))
    jobs = JobService(LocalStorage(bucket))
    files = {p.name: p.read_bytes() for p in (GALLERY / "sample").iterdir() if p.is_file()}
    job = jobs.create_job("sample", files)
    policy = jobs.attach_policy("65f1a0000000000000000001", job["id"], "rate(1 day)")
    jobrunner = load_handler("jobrunner")
    event = json.loads((EVENTS / "jobrunner-schedule.json").read_text())
    assert jobrunner.handler(event, context()) == {"status": 200, "action": "run-due-policies", "runs": []}
    by_policy = jobrunner.handler({"action": "run-policy", "policyId": policy["id"]}, context())
    assert by_policy["status"] == 200 and by_policy["runs"][0]["status"] == "succeeded"
    assert by_policy["runs"][0]["policyId"] == policy["id"]
    by_job = jobrunner.handler(
        {"action": "run-job", "jobId": job["id"], "runtimeParameterValues": {"repeat": 2}}, context()
    )
    assert by_job["runs"][0]["status"] == "succeeded"
    assert "Hello from a custom job" in jobs.run_log(job["id"], by_job["runs"][0]["id"])
    missing = jobrunner.handler({"action": "run-policy", "policyId": "ffffffffffffffffffffffff"}, context())
    assert missing["status"] == 404
    answer = jobrunner.handler({"action": "format-disk"}, context())
    assert answer["status"] == 400 and "format-disk" in answer["message"]


def test_dockerfile_copies_only_files_that_exist():
    dockerfile = (ROOT / "functions" / "jobrunner" / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


def test_explain_function_answers_its_event():
    explain = load_handler("explain")
    event = json.loads((EVENTS / "explain-csv.json").read_text())
    meta, body = invoke_event(explain, event)
    assert meta["status"] == 200
    assert meta["headers"]["x-datarobot-model-id"] == BINARY_MODEL
    assert all(len(row["predictionExplanations"]) == 3 for row in body["data"])


def with_manage_token(event: dict) -> dict:
    from conftest import MANAGE_AUTH

    headers = {**event["headers"], **MANAGE_AUTH}
    multi = {**event.get("multiValueHeaders", {}), "Authorization": [MANAGE_AUTH["Authorization"]]}
    return {**event, "headers": headers, "multiValueHeaders": multi}


def test_jobrunner_serves_the_jobs_api_event(bucket, monkeypatch):
    from conftest import add_manage_token

    monkeypatch.setenv("DRC_STORAGE_ROOT", str(bucket))
    add_manage_token(bucket)
    jobrunner = load_handler("jobrunner")
    meta, body = invoke(jobrunner, "jobrunner-api-list-jobs.json")
    assert meta["status"] == 403  # the event's demo token may not manage jobs
    meta, body = invoke_event(
        jobrunner, with_manage_token(json.loads((EVENTS / "jobrunner-api-list-jobs.json").read_text()))
    )
    assert meta["status"] == 200 and body["count"] == 0 and body["data"] == [] and body["next"] is None


def test_jobs_api_in_lambda_starts_runs_in_another_invocation(bucket, monkeypatch):
    """With DRC_JOBRUNNER_ARN set, POST .../runs/ hands the queued run to an async invoke."""
    import drcompat_lambda.jobrunner as jobrunner_module

    launched: list[tuple] = []
    monkeypatch.setenv("DRC_STORAGE_ROOT", str(bucket))
    monkeypatch.setenv("DRC_JOBRUNNER_ARN", "arn:aws:lambda:us-east-1:123456789012:function:drcompat-jobrunner")
    monkeypatch.setattr(jobrunner_module, "async_launcher", lambda arn: lambda *args: launched.append((arn, *args)))
    jobrunner = load_handler("jobrunner")
    from conftest import add_manage_token

    add_manage_token(bucket)
    event = with_manage_token(json.loads((EVENTS / "jobrunner-api-list-jobs.json").read_text()))
    create = {**event, "httpMethod": "POST", "body": json.dumps({"name": "j"}), "isBase64Encoded": False}
    created = jobrunner.handler(create, context())
    job_id = json.loads(created["body"])["id"]
    path = f"/api/v2/customJobs/{job_id}/runs/"
    start = {**create, "path": path, "body": json.dumps({"runtimeParameterValues": {"a": 1}})}
    answer = jobrunner.handler(start, context())
    assert answer["statusCode"] == 202
    run = json.loads(answer["body"])
    assert run["status"] == "running" and answer["headers"]["location"].endswith(f"/runs/{run['id']}/status/")
    assert launched == [(os.environ["DRC_JOBRUNNER_ARN"], job_id, {"a": 1}, None, run["id"])]
