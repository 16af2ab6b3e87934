"""The Lambda direct path (src/drcompat_lambda/direct.py) answers exactly as the full app does.

Every prediction event file, and variations of it (errors, body forms, door shapes), is answered
by PredictFunction's handler twice: once as deployed (prediction events go the direct way) and
once with the direct path turned off (Mangum + FastAPI). Status, headers, body, the response's
own keys, the access log and the metrics must match; only the request id and the execution time
may differ. A fresh interpreter answering the first event must not import pandas or FastAPI.
"""

from __future__ import annotations

import base64
import copy
import gzip
import io
import json
import logging
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType

import pytest

from conftest import AUTH, BINARY, REGRESSION, ROOT, sample, url
from drcompat.predict import PredictionService
from drcompat_lambda.direct import DirectRoutes
from test_lambda_handler import context, load_handler

EVENTS = ROOT / "events"
VARYING = ("x-datarobot-request-id", "x-datarobot-execution-time")
FILES = sorted(
    str(p.relative_to(EVENTS))
    for pattern in ("predict-*.json", "explain-*.json", "*/predict-*.json", "*/explain-*.json")
    for p in EVENTS.glob(pattern)
)


@pytest.fixture(scope="module")
def functions() -> dict[str, ModuleType]:
    return {"predict": load_handler("predict"), "explain": load_handler("explain")}


def event_file(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def function_for(functions: dict[str, ModuleType], name: str) -> ModuleType:
    return functions["explain" if name.split("/")[-1].startswith("explain-") else "predict"]


def both_ways(module: ModuleType, event: dict, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict, bool]:
    """The handler's response with the direct path (and whether it answered), then without it."""
    taken: list[bool] = []
    original = DirectRoutes.__call__

    def spy(self: DirectRoutes, event: dict) -> dict | None:
        response = original(self, event)
        taken.append(response is not None)
        return response

    module.handler(copy.deepcopy(event), context())  # first: a model loaded on demand misses the cache once
    with monkeypatch.context() as patch:
        patch.setattr(DirectRoutes, "__call__", spy)
        direct = module.handler(copy.deepcopy(event), context())
    with monkeypatch.context() as patch:
        patch.setattr(DirectRoutes, "__call__", lambda self, event: None)
        full = module.handler(copy.deepcopy(event), context())
    return direct, full, taken == [True]


def comparable(response: dict) -> dict:
    """The response with the values that differ per request blanked (their keys kept)."""
    response = copy.deepcopy(response)
    for key in VARYING:
        if key in response.get("headers", {}):
            response["headers"][key] = "*"
        if key in response.get("multiValueHeaders", {}):
            response["multiValueHeaders"][key] = ["*"]
    return response


def assert_same(direct: dict, full: dict) -> None:
    for key in VARYING:
        assert key in direct["headers"]
    assert list(direct) == list(full)  # the same response keys (multiValueHeaders for payload 1.0)
    assert comparable(direct) == comparable(full)


@pytest.mark.parametrize("name", FILES)
def test_every_event_file_is_answered_as_the_app_answers(functions, monkeypatch, name):
    direct, full, taken = both_ways(function_for(functions, name), event_file(name), monkeypatch)
    assert taken and direct["statusCode"] == 200
    assert_same(direct, full)


def body_of(event: dict) -> bytes:
    body = event["body"]
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()


def with_body(event: dict, body: bytes, content_type: str | None = None) -> dict:
    event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    if content_type is not None:
        set_header(event, "Content-Type", content_type)
    return event


def set_header(event: dict, name: str, value: str) -> dict:
    if event.get("version") == "2.0":
        event["headers"][name.lower()] = value
    else:
        event["headers"][name] = value
        event.setdefault("multiValueHeaders", {})[name] = [value]
    return event


def set_path(event: dict, path: str) -> dict:
    if event.get("version") == "2.0":
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
    else:
        event["path"] = path
    return event


def set_method(event: dict, method: str) -> dict:
    if event.get("version") == "2.0":
        event["requestContext"]["http"]["method"] = method
    else:
        event["httpMethod"] = method
    return event


def set_query(event: dict, pairs: list[tuple[str, str]]) -> dict:
    from urllib.parse import urlencode

    if event.get("version") == "2.0":
        event["rawQueryString"] = urlencode(pairs)
    else:
        multi: dict[str, list[str]] = {}
        for key, value in pairs:
            multi.setdefault(key, []).append(value)
        event["multiValueQueryStringParameters"] = multi or None
        event["queryStringParameters"] = {k: v[-1] for k, v in multi.items()} or None
    return event


def stage_prefixed(event: dict) -> dict:
    event["requestContext"]["stage"] = "prod"
    return set_path(event, "/prod" + event["requestContext"]["http"]["path"])


def payload_1_0(event: dict) -> dict:
    event["version"] = "1.0"
    return event


DEPLOYMENT = "65f1a0000000000000000001"
Change = Callable[[dict], dict]
# name -> (change to the predict-csv.json event of each door, whether the direct path answers it)
VARIATIONS: dict[str, tuple[Change, bool]] = {
    "bad token": (lambda e: set_header(e, "Authorization", "Bearer wrong"), True),
    "no token": (lambda e: set_header(e, "Authorization", ""), True),
    "unknown deployment": (
        lambda e: set_path(e, "/predApi/v1.0/deployments/ffffffffffffffffffffffff/predictions"),
        True,
    ),
    "without the /predApi/v1.0 prefix": (lambda e: set_path(e, f"/deployments/{DEPLOYMENT}/predictions"), True),
    "malformed csv": (lambda e: with_body(e, b"age,sex\n1,2,3,4\n\x00"), True),
    "empty body": (lambda e: with_body(e, b""), True),
    "unsupported content type": (lambda e: set_header(e, "Content-Type", "application/xml"), True),
    "declared body over the limit": (lambda e: set_header(e, "Content-Length", str(11 * 1024 * 1024)), True),
    "json body": (
        lambda e: with_body(e, json.dumps([{"age": 60, "sex": "male"}]).encode(), "application/json"),
        True,
    ),
    "text body, not base64": (
        lambda e: {**e, "body": body_of(e).decode(), "isBase64Encoded": False},
        True,
    ),
    "gzip body": (
        lambda e: set_header(with_body(e, gzip.compress(body_of(e), mtime=0)), "Content-Encoding", "gzip"),
        True,
    ),
    "multipart body": (
        lambda e: with_body(
            e,
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="rows.csv"\r\nContent-Type: text/csv\r\n\r\n'
            + body_of(e)
            + b"\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
        True,
    ),
    "accept text/csv": (lambda e: set_header(e, "Accept", "text/csv"), True),
    "accept text/csv with passthrough": (
        lambda e: set_query(set_header(e, "Accept", "text/csv"), [("passthroughColumns", "age")]),
        True,
    ),
    "passthrough of a missing column": (lambda e: set_query(e, [("passthroughColumns", "nope")]), True),
    "passthroughColumnsSet=all": (lambda e: set_query(e, [("passthroughColumnsSet", "all")]), True),
    "bad parameter": (lambda e: set_query(e, [("decimalsNumber", "x")]), True),
    "explanations on the predict function": (
        lambda e: set_path(e, f"/predApi/v1.0/deployments/{DEPLOYMENT}/predictionExplanations"),
        True,
    ),
    "non-ASCII key header": (lambda e: set_header(e, "datarobot-key", "clé"), True),
    "GET (405)": (lambda e: set_method(e, "GET"), False),
    "OPTIONS preflight": (lambda e: set_method(e, "OPTIONS"), True),
    "OPTIONS on another path": (lambda e: set_method(set_path(e, "/api/v2/deployments/"), "OPTIONS"), True),
    "another route": (lambda e: set_path(e, f"/predApi/v1.0/deployments/{DEPLOYMENT}/other"), False),
    "trailing slash": (lambda e: set_path(e, f"/predApi/v1.0/deployments/{DEPLOYMENT}/predictions/"), False),
    "health": (lambda e: set_method(set_path(e, "/health"), "GET"), False),
    "request line over the limit": (lambda e: set_query(e, [("passthroughColumns", "x" * 9000)]), False),
}
DOOR_VARIATIONS: dict[str, tuple[str, Change]] = {
    "http api, named stage": ("http-api", stage_prefixed),
    "http api, payload 1.0": ("", payload_1_0),
}


@pytest.mark.parametrize("door", ["", "http-api/", "function-url/"])
@pytest.mark.parametrize("variation", list(VARIATIONS))
def test_variations_are_answered_as_the_app_answers(functions, monkeypatch, door, variation):
    change, answered_directly = VARIATIONS[variation]
    event = change(event_file(f"{door}predict-csv.json"))
    direct, full, taken = both_ways(functions["predict"], event, monkeypatch)
    assert taken is answered_directly
    assert_same(direct, full)


@pytest.mark.parametrize("variation", list(DOOR_VARIATIONS))
def test_door_shapes_are_answered_as_the_app_answers(functions, monkeypatch, variation):
    door, change = DOOR_VARIATIONS[variation]
    event = change(event_file(f"{door}/predict-csv.json" if door else "predict-csv.json"))
    direct, full, taken = both_ways(functions["predict"], event, monkeypatch)
    assert taken and direct["statusCode"] == 200
    assert_same(direct, full)


def test_logs_metrics_and_monitoring_are_the_apps(functions, monkeypatch, capsys):
    """The access log line, the EMF metrics and what monitoring receives are the same both ways."""
    module = functions["predict"]
    service = module.full_app.service
    seen: list[tuple[str, ...]] = []

    class Sink:
        def scored(self, batch) -> None:  # type: ignore[no-untyped-def]
            seen.append(("scored", batch.deployment_id, str(len(batch.label_index))))

        def finished(self, record, consumer, execution_ms) -> None:  # type: ignore[no-untyped-def]
            seen.append(("finished", record.route, str(record.status), str(record.rows), str(consumer)))

    monkeypatch.setattr(service, "sink", Sink())
    stream = io.StringIO()
    for handler in logging.getLogger("drcompat-predict").handlers:
        monkeypatch.setattr(handler, "stream", stream)
    bad = set_header(event_file("predict-csv.json"), "Authorization", "Bearer wrong")
    outputs = []
    for event in (event_file("predict-csv.json"), bad):
        seen.clear()
        capsys.readouterr()
        stream.seek(0)
        stream.truncate()
        both_ways(module, event, monkeypatch)
        calls = []  # each output split into the warm-up's, the direct path's and the app's thirds
        for text in (stream.getvalue(), capsys.readouterr().out):  # access log lines; EMF metrics
            lines = [json.loads(line) for line in text.splitlines() if line]
            for line in lines:
                for varying in ("timestamp", "latency_ms", "Latency"):
                    line.pop(varying, None)
                line.get("_aws", {}).pop("Timestamp", None)
            calls.append(lines)
        calls.append(seen)
        for records in calls:
            assert records and len(records) % 3 == 0
            third = len(records) // 3
            assert records[third : 2 * third] == records[2 * third :]
        logs, emf, monitored = (records[len(records) // 3 : 2 * len(records) // 3] for records in calls)
        outputs.append((logs + emf, monitored))
    (ok_lines, ok_seen), (bad_lines, bad_seen) = outputs
    assert [line["status"] for line in ok_lines + bad_lines if line.get("message") == "request served"] == [200, 401]
    assert any("Errors" in line for line in bad_lines)
    assert ok_seen[0][0] == "scored" and ok_seen[-1][:3] == ("finished", "predictions", "200")
    assert bad_seen == [("finished", "predictions", "401", "0", "None")]


FIRST_EVENT = """
import json, sys, types
sys.path.insert(0, {function!r})
import app
context = types.SimpleNamespace(function_name="PredictFunction", function_version="1", memory_limit_in_mb=1024,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:PredictFunction",
    aws_request_id="r", log_group_name="g", log_stream_name="s", get_remaining_time_in_millis=lambda: 1000)
response = app.handler(json.load(open({event!r})), context)
assert response["statusCode"] == 200, response
print(json.dumps(sorted(m for m in ("pandas", "fastapi", "starlette", "mangum") if m in sys.modules)))
"""


@pytest.mark.parametrize("name", ["predict-csv.json", "http-api/predict-csv.json", "predict-json.json"])
def test_the_first_event_needs_no_pandas_and_no_web_framework(name, tmp_path):
    program = FIRST_EVENT.format(function=str(ROOT / "functions" / "predict"), event=str(EVENTS / name))
    env = {"POWERTOOLS_TRACE_DISABLED": "true", "DRC_MONITORING_ENABLED": "false", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


HEADER = "age,sex,bmi,bp,s1,s2,s3,s4,s5,s6"
ROW = "60,male,32.1,83,179,119.4,42,4,4.4773,94"
KEPT_BODIES = {
    "plain": f"{HEADER}\n{ROW}\n{ROW.replace('male', 'female')}\n",
    "cells as sent": f"{HEADER},id,note\n{ROW},007,\n{ROW},-0,NA\n{ROW},1e5,x y\n",
    "blank lines, no final newline": f"{HEADER},id\n\n{ROW},1\n\n{ROW},2",
    "crlf": f"{HEADER},id\r\n{ROW},1\r\n",
    "numeric model body": sample("diabetes_regression").decode(),
}
KEPT_QUERIES = {
    "a feature": "passthroughColumns=age",
    "text feature and others": "passthroughColumns=sex&passthroughColumns=id&passthroughColumns=note",
    "twice": "passthroughColumns=id&passthroughColumns=id",
    "missing": "passthroughColumns=nope",
}


@pytest.mark.parametrize("query", list(KEPT_QUERIES))
@pytest.mark.parametrize("body", list(KEPT_BODIES))
def test_passthrough_values_of_a_direct_block_are_the_general_paths(client, monkeypatch, body, query):
    """Passthrough columns of a small plain CSV body are kept without pandas, byte for byte as
    the general path keeps them (JSON answers; a CSV answer takes the general path)."""
    deployment = REGRESSION if body == "numeric model body" else BINARY
    target = f"{url(deployment)}?{KEPT_QUERIES[query]}"
    headers = {**AUTH, "Content-Type": "text/csv"}
    data = KEPT_BODIES[body].encode()
    fast = client.post(target, content=data, headers=headers)
    monkeypatch.setattr(PredictionService, "direct_block", lambda *args: None)
    general = client.post(target, content=data, headers=headers)
    assert (fast.status_code, fast.content) == (general.status_code, general.content)
    header = data.split(b"\n", 1)[0].decode().strip().split(",")
    if all(value in header for key, value in (pair.split("=") for pair in KEPT_QUERIES[query].split("&"))):
        assert fast.status_code == 200 and "passthroughValues" in fast.json()["data"][0]
    else:
        assert fast.status_code == 400


SNAPSHOT = """
import json, sys, types
sys.path.insert(0, {function!r})
import app
assert app.full_app._app is not None and "pandas" in sys.modules  # built before any request
context = types.SimpleNamespace(function_name="PredictFunction", function_version="1", memory_limit_in_mb=1024,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:PredictFunction",
    aws_request_id="r", log_group_name="g", log_stream_name="s", get_remaining_time_in_millis=lambda: 1000)
response = app.handler(json.load(open({event!r})), context)
assert response["statusCode"] == 200, response
print(response["headers"]["x-datarobot-model-cache-hit"])
"""


def test_a_snapshotted_init_loads_everything_before_requests():
    """Under SnapStart the init is not on any request's path: the app, pandas and the time-series
    model are loaded then, so the first time-series request hits the cache."""
    program = SNAPSHOT.format(
        function=str(ROOT / "functions" / "predict"), event=str(EVENTS / "predict-timeseries.json")
    )
    env = {
        "POWERTOOLS_TRACE_DISABLED": "true",
        "DRC_MONITORING_ENABLED": "false",
        "PATH": "/usr/bin:/bin",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
    }
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "true"
