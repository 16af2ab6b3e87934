"""The management function as AWS runs it: API Gateway events in, the bucket written (S3 on moto,
the bundled models layer below it), and a warm prediction container seeing the change within its
registry refresh time."""

from __future__ import annotations

import base64
import json
import time

import boto3

from conftest import ADMIN_AUTH, DEMO_BUCKET, REGRESSION, SAMPLES, add_admin_token
from s3_server import make_bucket
from test_lambda_handler import EVENTS, context, load_handler

API = "https://abc123.execute-api.us-east-1.amazonaws.com/prod"


def call(module, event: dict) -> tuple[int, dict]:
    response = module.handler(event, context())
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return response["statusCode"], json.loads(body) if body else {}


def event(name: str, **changes) -> dict:
    """The event file, sent with the operator's token (the public demo token may only predict)."""
    loaded = json.loads((EVENTS / name).read_text())
    loaded.update(changes)
    loaded["headers"]["Authorization"] = loaded["multiValueHeaders"]["Authorization"][0] = ADMIN_AUTH["Authorization"]
    return loaded


def test_management_function_writes_the_bucket_and_warm_predictors_follow(s3_endpoint, tmp_path, monkeypatch):
    s3 = make_bucket(s3_endpoint, "mgmt-bucket")
    layer_registry = (DEMO_BUCKET / "deployments.yaml").read_bytes()
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "deployments.yaml").write_bytes(layer_registry)
    add_admin_token(tmp_path / "registry")  # the operator's token, in the bucket's registry
    s3.put_object(
        Bucket="mgmt-bucket", Key="deployments.yaml", Body=(tmp_path / "registry" / "deployments.yaml").read_bytes()
    )
    for key, value in {
        "DRC_STORAGE_BACKEND": "s3",
        "DRC_BUCKET": "mgmt-bucket",
        "DRC_S3_ENDPOINT_URL": s3_endpoint,
        "DRC_LAYER_ROOT": str(DEMO_BUCKET),
        "DRC_MODEL_DOWNLOAD_DIR": str(tmp_path / "dl"),
        "DRC_REGISTRY_TTL_SECONDS": "0.3",
        "DRC_PREDICTION_SERVER_URL": API,
    }.items():
        monkeypatch.setenv(key, value)
    predict = load_handler("predict")  # a warm prediction container, registry read at import
    management = load_handler("management")

    status, listed = call(management, event("management-list-deployments.json"))
    assert status == 200 and listed["totalCount"] == 5
    assert {d["defaultPredictionServer"]["url"] for d in listed["data"]} == {API}

    status, _ = call(management, event("management-update-deployment.json"))
    assert status == 204
    get = event("management-update-deployment.json", httpMethod="GET", body=None, isBase64Encoded=False)
    status, deployment = call(management, get)
    assert status == 200 and deployment["label"] == "Diabetes progression (ridge)"

    create = event(
        "management-list-deployments.json",
        httpMethod="POST",
        path="/api/v2/tokens/",
        resource="/api/v2/tokens",
        body=json.dumps({"name": "lambda-app", "deployments": [REGRESSION]}),
    )
    status, token = call(management, create)
    assert status == 201, token
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    stored = s3.get_object(Bucket="mgmt-bucket", Key="deployments.yaml")["Body"].read().decode()
    assert "lambda-app" in stored and token["token"] not in stored  # the digest only
    assert (DEMO_BUCKET / "deployments.yaml").read_bytes() == layer_registry  # the layer is never written

    time.sleep(0.4)  # the prediction container's registry refresh time
    scoring = json.loads((EVENTS / "predict-text-plain.json").read_text())
    scoring["body"] = base64.b64encode((SAMPLES / "diabetes_regression.csv").read_bytes()).decode()
    scoring["headers"]["Authorization"] = scoring["multiValueHeaders"]["Authorization"][0] = f"Bearer {token['token']}"
    status, answer = call(predict, scoring)
    assert status == 200, answer
    assert len(answer["data"]) == 20


def test_prediction_token_is_refused_by_the_management_function(bucket, monkeypatch):
    import hashlib

    import yaml

    document = yaml.safe_load((bucket / "deployments.yaml").read_text())
    document["tokens"]["scorer"] = {"sha256": hashlib.sha256(b"scorer-secret-0123").hexdigest()}
    document["deployments"][REGRESSION]["tokens"].append("scorer")
    (bucket / "deployments.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.setenv("DRC_STORAGE_ROOT", str(bucket))
    management = load_handler("management")
    for secret, expected in (("nope", 401), ("scorer-secret-0123", 403)):
        denied = event("management-list-deployments.json")
        denied["headers"]["Authorization"] = denied["multiValueHeaders"]["Authorization"][0] = f"Bearer {secret}"
        status, body = call(management, denied)
        assert status == expected
    assert "manageDeployments" in body["message"]


def test_cli_against_the_bucket_keeps_what_the_layer_serves(s3_endpoint, tmp_path, monkeypatch, capsys):
    import yaml

    from drcompat.cli import main
    from test_management_api import churn_frame, churn_onnx, churn_pipeline

    make_bucket(s3_endpoint, "cli-bucket")
    for key, value in {
        "DRC_STORAGE_BACKEND": "s3",
        "DRC_BUCKET": "cli-bucket",
        "DRC_S3_ENDPOINT_URL": s3_endpoint,
        "DRC_LAYER_ROOT": str(DEMO_BUCKET),
        "DRC_MODEL_DOWNLOAD_DIR": str(tmp_path / "dl"),
    }.items():
        monkeypatch.setenv(key, value)
    frame = churn_frame()
    (tmp_path / "churn.onnx").write_bytes(churn_onnx(churn_pipeline(frame)))
    frame.to_csv(tmp_path / "train.csv", index=False)
    args = ["models", "import", str(tmp_path / "churn.onnx"), "--sample", str(tmp_path / "train.csv")]
    args += ["--target-type", "Binary", "--target-name", "churned", "--class-labels", "no,yes"]
    assert main([*args, "--deploy", "Churn", "--token", "demo"]) == 0
    made = json.loads(capsys.readouterr().out)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    stored = yaml.safe_load(s3.get_object(Bucket="cli-bucket", Key="deployments.yaml")["Body"].read())
    assert set(stored["deployments"]) == {
        *yaml.safe_load((DEMO_BUCKET / "deployments.yaml").read_text())["deployments"],
        made["deploymentId"],
    }
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="cli-bucket")["Contents"]}
    assert f"models/{made['modelId']}/model.yaml" in keys and f"models/{made['modelId']}/model.onnx" in keys


def test_template_routes_the_management_api_to_a_least_privilege_writer():
    import yaml

    from conftest import ROOT
    from test_front_doors import CfnLoader

    resources = yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)["Resources"]
    paths = resources["PredictionApi"]["Properties"]["DefinitionBody"]["paths"]
    for name in ("management-list-deployments.json", "management-update-deployment.json"):
        resource = json.loads((EVENTS / name).read_text())["resource"]
        uri = paths[resource]["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]["uri"]["Sub"]
        assert uri.endswith("function:${AWS::StackName}-management/invocations")
    management = resources["ManagementFunction"]["Properties"]
    assert management["FunctionName"] == {"Sub": "${AWS::StackName}-management"}
    assert "Events" not in management
    statements = [p["Statement"] for p in management["Policies"] if "Statement" in p]
    assert statements == [
        [
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": [
                    {"Sub": "${ModelBucket.Arn}/deployments.yaml"},
                    {"Sub": "${ModelBucket.Arn}/models/*"},
                    {"Sub": "${ModelBucket.Arn}/monitoring/*"},
                ],
            }
        ]
    ]
    for reader in ("PredictFunction", "ExplainFunction"):  # read-only but for their monitoring records
        policies = resources[reader]["Properties"]["Policies"]
        assert [list(p) for p in policies] == [["S3ReadPolicy"], ["Statement"]]
        (write,) = policies[1]["Statement"]
        assert write["Action"] == "s3:PutObject" and write["Resource"] == {"Sub": "${ModelBucket.Arn}/*monitoring/*"}
    assert "/api/v2/{proxy+}" in paths  # the jobs API keeps every other /api/v2 path
