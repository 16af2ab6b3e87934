"""Every front door's events (REST API, HTTP API, function URL) answered by the Lambda handlers,
the same answers through each, and the template wiring each door (FrontDoor parameter)."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from conftest import BINARY_MODEL, ROOT
from test_lambda_handler import context, load_handler

EVENTS = ROOT / "events"
DOORS = ("http-api", "function-url")
DOOR_EVENTS = sorted(f"{door}/{p.name}" for door in DOORS for p in (EVENTS / door).glob("*.json"))
ROWS = {"predict-json.json": 2}


@pytest.fixture(scope="module")
def handlers():
    return {"predict": load_handler("predict"), "explain": load_handler("explain")}


def event_file(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def call(handlers, name: str, event: dict) -> tuple[int, dict, bytes]:
    function = "explain" if name.split("/")[-1].startswith("explain-") else "predict"
    response = handlers[function].handler(event, context())
    body = response.get("body", "")
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    return response["statusCode"], {k.lower(): v for k, v in response.get("headers", {}).items()}, raw


def test_each_door_has_every_body_form():
    for door in DOORS:
        names = {p.name for p in (EVENTS / door).glob("*.json")}
        assert {
            "predict-csv.json",
            "predict-json.json",
            "predict-csv-gzip.json",
            "predict-multipart.json",
            "predict-csv-accept-csv.json",
            "explain-csv.json",
        } <= names


@pytest.mark.parametrize("name", DOOR_EVENTS)
def test_every_door_event_is_answered(handlers, name):
    event = event_file(name)
    assert event["version"] == "2.0"
    status, headers, body = call(handlers, name, event)
    assert status == 200, body[:300]
    rows = ROWS.get(name.split("/")[-1], 20)
    if event["headers"].get("accept") == "text/csv":
        assert headers["content-type"].startswith("text/csv")
        assert len(body.decode().strip().splitlines()) == rows + 1
        return
    data = json.loads(body)["data"]
    assert len(data) == rows
    if "explain-" in name:
        assert headers["x-datarobot-model-id"] == BINARY_MODEL
        assert all(len(row["predictionExplanations"]) == 3 for row in data)


@pytest.mark.parametrize("name", DOOR_EVENTS)
def test_every_door_gives_the_rest_answer(handlers, name):
    """Binary bodies arrive base64 and text bodies as strings: the answer is byte for byte the one
    the REST API's event (everything base64) gets."""
    door_status, _, door_body = call(handlers, name, event_file(name))
    rest_status, _, rest_body = call(handlers, name, event_file(name.split("/")[-1]))
    assert door_status == rest_status == 200
    assert door_body == rest_body


def test_binary_bodies_are_base64_and_text_bodies_are_not():
    for door in DOORS:
        assert event_file(f"{door}/predict-csv-gzip.json")["isBase64Encoded"] is True
        assert event_file(f"{door}/predict-multipart.json")["isBase64Encoded"] is True
        assert event_file(f"{door}/predict-csv.json")["isBase64Encoded"] is False
        assert event_file(f"{door}/predict-json.json")["isBase64Encoded"] is False


@pytest.mark.parametrize("door", DOORS)
def test_repeated_query_parameters_survive_the_v2_payload(handlers, door):
    """queryStringParameters joins repeats with commas; the handler reads rawQueryString."""
    status, _, body = call(handlers, "predict-csv.json", event_file(f"{door}/predict-csv.json"))
    assert status == 200
    assert set(json.loads(body)["data"][0]["passthroughValues"]) == {"age", "sex"}


@pytest.mark.parametrize("door", DOORS)
def test_the_app_enforces_auth_behind_every_door(handlers, door):
    event = event_file(f"{door}/predict-json.json")
    event["headers"]["authorization"] = "Bearer wrong"
    status, headers, body = call(handlers, "predict-json.json", event)
    assert status == 401 and json.loads(body) == {"message": "Invalid API key."}
    assert "x-datarobot-model-id" not in headers


@pytest.mark.parametrize("door", DOORS)
def test_the_app_enforces_the_request_line_limit_behind_every_door(handlers, door):
    event = event_file(f"{door}/predict-json.json")
    event["rawQueryString"] = "passthroughColumns=" + "x" * 9000
    status, _, body = call(handlers, "predict-json.json", event)
    assert status == 414 and "8192" in json.loads(body)["message"]


@pytest.mark.parametrize("door", DOORS)
def test_the_app_enforces_the_decompressed_limit_behind_every_door(handlers, door, monkeypatch):
    import gzip

    event = event_file(f"{door}/predict-csv-gzip.json")
    header = b"age,sex,bmi,bp,s1,s2,s3,s4,s5,s6\n"
    bomb = gzip.compress(header + b"0,1,0,0,0,0,0,0,0,0\n" * 3_000_000, mtime=0)  # 60 MB inflated
    event["body"] = base64.b64encode(bomb).decode()
    status, _, body = call(handlers, "predict-csv-gzip.json", event)
    assert status == 413 and "message" in json.loads(body)


def test_http_api_named_stage_prefix_is_removed(handlers):
    """With a named stage (not the template's $default) the path carries the stage segment."""
    event = event_file("http-api/predict-json.json")
    event["requestContext"]["stage"] = "prod"
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/prod" + event["rawPath"]
    status, _, body = call(handlers, "predict-json.json", event)
    assert status == 200 and len(json.loads(body)["data"]) == 2


class CfnLoader(yaml.SafeLoader):
    """CloudFormation short forms (!Ref, !If, ...) as {tag: value}."""


CfnLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: {
        suffix: (
            loader.construct_mapping(node)
            if isinstance(node, yaml.MappingNode)
            else loader.construct_sequence(node)
            if isinstance(node, yaml.SequenceNode)
            else loader.construct_scalar(node)
        )
    },
)


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)


def test_template_builds_each_door_under_its_condition(template):
    assert template["Parameters"]["FrontDoor"]["AllowedValues"] == ["RestApi", "HttpApi", "FunctionUrl"]
    resources = template["Resources"]
    by_condition: dict[str, set[str]] = {}
    for name, resource in resources.items():
        by_condition.setdefault(resource.get("Condition", ""), set()).add(resource["Type"])
    http_api = {"AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Stage"}
    assert http_api <= by_condition["HttpDoor"]
    assert "AWS::Lambda::Url" in by_condition["UrlDoor"]
    assert "AWS::Lambda::Permission" in by_condition["RestDoor"]
    for function in ("PredictFunction", "ExplainFunction"):
        assert "Events" not in resources[function]["Properties"]  # no unconditional route left
        url = resources[f"{function}Url"]["Properties"]
        assert url["AuthType"] == "NONE"  # the app authenticates (see the comment there)
    # The REST paths exist only with RestDoor, and a changed door reaches the stage.
    api = resources["PredictionApi"]["Properties"]
    paths = api["DefinitionBody"]["paths"]
    predictions = [path for path in paths if path.startswith("/predApi/")]
    assert len(predictions) == 2 and all(paths[path]["If"][0] == "RestDoor" for path in predictions)
    assert "If" not in paths["/api/v2/{proxy+}"]  # the jobs API stays with every door
    assert api["AlwaysDeploy"] is True and api["MergeDefinitions"] is True


def test_template_routes_match_the_events(template):
    resources = template["Resources"]
    routes = {r["Properties"]["RouteKey"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"}
    for name in DOOR_EVENTS:
        if name.startswith("http-api/"):
            assert event_file(name)["routeKey"] in routes, name
    rest_paths = set(resources["PredictionApi"]["Properties"]["DefinitionBody"]["paths"])
    for name in ("predict-csv.json", "explain-csv.json", "jobrunner-api-list-jobs.json"):
        assert event_file(name)["resource"] in rest_paths


def test_no_function_event_on_the_rest_api(template):
    """A SAM Api event would put the function's ARN in the API's body while the job runner's
    DRC_PUBLIC_URL names the API: a circular dependency CloudFormation refuses."""
    for name, resource in template["Resources"].items():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            assert event["Type"] != "Api", name
    body = json.dumps(template["Resources"]["PredictionApi"]["Properties"]["DefinitionBody"])
    assert "JobRunnerFunction" not in body and "${AWS::StackName}-jobrunner" in body
    assert template["Resources"]["JobRunnerFunction"]["Properties"]["FunctionName"] == {
        "Sub": "${AWS::StackName}-jobrunner"
    }


def test_template_wires_the_web_adapter_for_the_streaming_door_only(template):
    for function in ("PredictFunction", "ExplainFunction"):
        props = template["Resources"][function]["Properties"]
        assert props["Handler"] == {"If": ["UrlStreaming", "run.sh", "app.handler"]}
        env = props["Environment"]["Variables"]
        assert env["AWS_LAMBDA_EXEC_WRAPPER"]["If"][:2] == ["UrlStreaming", "/opt/bootstrap"]
        assert env["AWS_LWA_INVOKE_MODE"]["If"][:2] == ["UrlStreaming", "response_stream"]
        adapter = props["Layers"][-1]["If"]
        assert adapter[0] == "UrlStreaming" and "LambdaAdapterLayer" in json.dumps(adapter[1])
        assert (ROOT / "functions" / function.replace("Function", "").lower() / "run.sh").exists()
    outputs = json.dumps(template["Outputs"]["ApiUrl"]["Value"])
    for door in ("PredictionApi", "HttpPredictionApi", "PredictFunctionUrl.FunctionUrl"):
        assert door in outputs
