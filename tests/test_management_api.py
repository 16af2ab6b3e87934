"""The management API through DataRobot's official client, unchanged: deployments listed, read,
created from imported models, updated, replaced and deleted; predictions through the URL a
deployment reports (``datarobot_predict``); tokens and the manageDeployments scope."""

from __future__ import annotations

import io
import pickle

import datarobot as dr
import numpy as np
import pandas as pd
import pytest
import requests
from datarobot.errors import ClientError
from datarobot_predict.deployment import predict as dr_predict
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from conftest import ADMIN_AUTH as AUTH
from conftest import ADMIN_TOKEN as TOKEN
from conftest import BINARY, BINARY_MODEL, MULTICLASS, REGRESSION, SAMPLES, add_admin_token

OPSET = {"": 17, "ai.onnx.ml": 3}


@pytest.fixture(autouse=True)
def operator_token(bucket):
    """Management needs an operator's token: the public demo token may only predict."""
    add_admin_token(bucket)


@pytest.fixture
def dr_client(live_server):
    client = dr.Client(endpoint=f"{live_server}/api/v2", token=TOKEN)
    yield client
    import datarobot_predict.deployment as predict_module

    predict_module.clear_context()  # datarobot_predict caches its HTTP client per context


def churn_frame(rows: int = 240, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, rows).astype(float),
            "monthly": rng.normal(70, 20, rows).round(2),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
        }
    )
    score = -0.04 * frame["tenure"] + 0.03 * frame["monthly"] + (frame["plan"] == "basic") * 0.8
    frame["churned"] = np.where(score + rng.normal(0, 0.5, rows) > score.median(), "yes", "no")
    return frame


def churn_pipeline(frame: pd.DataFrame) -> Pipeline:
    prep = ColumnTransformer(
        [("num", StandardScaler(), ["tenure", "monthly"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])]
    )
    pipeline = Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=500))])
    return pipeline.fit(frame[["tenure", "monthly", "plan"]], frame["churned"])


def churn_onnx(pipeline: Pipeline, zipmap: bool = False) -> bytes:
    inputs = [
        ("tenure", FloatTensorType([None, 1])),
        ("monthly", FloatTensorType([None, 1])),
        ("plan", StringTensorType([None, 1])),
    ]
    model = to_onnx(pipeline, initial_types=inputs, options={id(pipeline): {"zipmap": zipmap}}, target_opset=OPSET)
    return model.SerializeToString()


def import_onnx(base: str, onnx_bytes: bytes, sample: pd.DataFrame, **fields: str) -> requests.Response:
    return requests.post(
        f"{base}/api/v2/importedModels/",
        headers=AUTH,
        files={
            "model": ("model.onnx", onnx_bytes, "application/octet-stream"),
            "sample": ("sample.csv", sample.to_csv(index=False).encode(), "text/csv"),
        },
        data=fields,
        timeout=30,
    )


def test_official_client_lists_gets_and_reports_the_prediction_server(dr_client, live_server):
    deployments = dr.Deployment.list()
    assert {d.id for d in deployments} >= {BINARY, REGRESSION, MULTICLASS}
    deployment = dr.Deployment.get(BINARY)
    assert deployment.label == "Diabetes progression (binary)"
    assert deployment.model["id"] == BINARY_MODEL
    assert deployment.model["target_name"] == "progression_high"
    assert deployment.default_prediction_server["url"] == live_server
    features = deployment.get_features()
    assert [f["name"] for f in features][:2] == ["age", "sex"]
    assert features[1]["feature_type"] == "Categorical" and features[1]["known_in_advance"] is False
    frame = pd.read_csv(SAMPLES / "diabetes_binary.csv")
    result = dr_predict(deployment, frame)
    assert len(result.dataframe) == len(frame)
    assert "progression_high_1_PREDICTION" in result.dataframe.columns
    assert result.response_headers["X-DataRobot-Model-Id"] == BINARY_MODEL


def test_pagination_fields_and_links(client, dr_client):
    first = client.get("/api/v2/deployments/?limit=2", headers=AUTH).json()
    assert set(first) == {"count", "next", "previous", "data", "totalCount"}
    assert first["count"] == 2 and first["totalCount"] == 5 and first["previous"] is None
    assert "offset=2" in first["next"]
    second = client.get("/api/v2/deployments/?offset=2&limit=2", headers=AUTH).json()
    assert "offset=4" in second["next"] and "offset=0" in second["previous"]
    third = client.get(second["next"], headers=AUTH).json()
    assert third["next"] is None and third["count"] == 1
    ids = [d["id"] for d in first["data"] + second["data"]]
    assert len(set(ids)) == 4
    assert [d.id for d in dr.Deployment.list(offset=1, limit=2)] == ids[1:3]
    assert client.get("/api/v2/deployments/?limit=5000", headers=AUTH).status_code == 400
    assert client.get("/api/v2/deployments/?offset=x", headers=AUTH).status_code == 400


def test_update_and_delete_through_the_client(dr_client, client):
    deployment = dr.Deployment.get(REGRESSION)
    deployment.update(label="Progression (ridge)", description="numeric features", importance="HIGH")
    again = dr.Deployment.get(REGRESSION)
    assert (again.label, again.description, again.importance) == ("Progression (ridge)", "numeric features", "HIGH")
    bad = client.patch(f"/api/v2/deployments/{REGRESSION}/", headers=AUTH, json={"importance": "URGENT"})
    assert bad.status_code == 400 and "importance" in bad.json()["message"]
    from datarobot.models.deployment import DeploymentListFilters

    important = dr.Deployment.list(filters=DeploymentListFilters(importance=["HIGH", "CRITICAL"]))
    assert [d.id for d in important] == [REGRESSION]
    labels = [d.label for d in dr.Deployment.list(order_by="-label")]
    assert labels == sorted(labels, reverse=True) and len(labels) == 5
    assert client.get("/api/v2/deployments/?orderBy=colour", headers=AUTH).status_code == 400
    dr.Deployment.get(MULTICLASS).delete()
    assert MULTICLASS not in {d.id for d in dr.Deployment.list()}
    with pytest.raises(ClientError) as missing:
        dr.Deployment.get(MULTICLASS)
    assert missing.value.status_code == 404
    gone = client.post(f"/predApi/v1.0/deployments/{MULTICLASS}/predictions", headers=AUTH, content=b"a\n1\n")
    assert gone.status_code == 404


def test_import_onnx_deploy_predict_and_explain(dr_client, live_server):
    frame = churn_frame()
    pipeline = churn_pipeline(frame)
    answer = import_onnx(
        live_server,
        churn_onnx(pipeline),
        frame,
        targetType="Binary",
        targetName="churned",
        classLabels="no,yes",
        name="churn",
    )
    assert answer.status_code == 201, answer.text
    model = answer.json()
    assert model["features"] == [
        {"name": "tenure", "featureType": "numeric"},
        {"name": "monthly", "featureType": "numeric"},
        {"name": "plan", "featureType": "categorical"},
    ]
    assert model["holdout"]["metric"] == "accuracy" and model["holdout"]["value"] > 0.6
    assert model["classLabels"] == ["no", "yes"] and model["positiveClassLabel"] == "yes"
    again = requests.get(f"{live_server}/api/v2/importedModels/{model['id']}/", headers=AUTH, timeout=10).json()
    assert again == model
    listed = requests.get(f"{live_server}/api/v2/importedModels/", headers=AUTH, timeout=10).json()
    assert model["id"] in {m["id"] for m in listed["data"]} and listed["totalCount"] == 6  # 5 demo + this one
    deployment = dr.Deployment.create_from_registered_model_version(model["id"], label="Churn", importance="LOW")
    assert deployment.model["id"] == model["id"]
    assert dr.Deployment.create_from_learning_model(model["id"], label="Churn 2").label == "Churn 2"
    scored = dr_predict(dr.Deployment.get(deployment.id), frame.drop(columns=["churned"]).head(25)).dataframe
    expected = pipeline.predict_proba(frame.drop(columns=["churned"]).head(25))[:, 1]
    assert np.allclose(scored["churned_yes_PREDICTION"], expected, atol=1e-5)
    explained = requests.post(
        f"{live_server}/predApi/v1.0/deployments/{deployment.id}/predictionExplanations?maxExplanations=3",
        headers={**AUTH, "Content-Type": "text/csv"},
        data=frame.drop(columns=["churned"]).head(5).to_csv(index=False),
        timeout=30,
    )
    assert explained.status_code == 200, explained.text
    rows = explained.json()["data"]
    assert len(rows) == 5 and len(rows[0]["predictionExplanations"]) == 3
    assert {e["feature"] for e in rows[0]["predictionExplanations"]} <= {"tenure", "monthly", "plan"}


@pytest.mark.parametrize(
    ("change", "fields", "expected"),
    [
        ("zipmap", {}, "Unknown output layout"),
        ("labels", {"classLabels": "no,yes,maybe"}, "3 class labels do not match the 2 probability columns"),
        ("order", {"classLabels": "yes,no"}, "class labels do not match the probability columns"),
        ("sample", {}, "Features missing from the sample: plan"),
        ("target", {"targetType": "Regression", "classLabels": ""}, "Unknown output layout"),
    ],
)
def test_import_names_what_is_wrong(live_server, change, fields, expected):
    frame = churn_frame()
    pipeline = churn_pipeline(frame)
    onnx_bytes = churn_onnx(pipeline, zipmap=change == "zipmap")
    sample = frame.drop(columns=["plan"]) if change == "sample" else frame
    form = {"targetType": "Binary", "targetName": "churned", "classLabels": "no,yes", **fields}
    answer = import_onnx(live_server, onnx_bytes, sample, **form)
    assert answer.status_code == 422, answer.text
    assert expected in answer.json()["message"]


def test_import_refuses_what_is_not_a_model(client):
    files = {"model": ("m.onnx", b"not onnx", "application/octet-stream"), "sample": ("s.csv", b"a\n1\n", "text/csv")}
    answer = client.post(
        "/api/v2/importedModels/", headers=AUTH, files=files, data={"targetType": "Regression", "targetName": "y"}
    )
    assert answer.status_code == 422 and "ONNX" in answer.json()["message"]
    assert client.post("/api/v2/importedModels/", headers=AUTH, json={}).status_code == 400
    pickled = {"model": ("p.pkl", pickle.dumps({}), "application/octet-stream"), "sample": files["sample"]}
    refused = client.post("/api/v2/importedModels/", headers=AUTH, files=pickled, data={"targetName": "y"})
    assert refused.status_code == 400 and "DRC_ALLOW_PICKLE_IMPORT" in refused.json()["message"]


def regression_import(base: str, slope: float, target: str = "progression") -> str:
    rng = np.random.default_rng(1)
    names = ["age", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    x = pd.DataFrame(rng.normal(50, 10, (120, len(names))), columns=names)
    y = x["bmi"] * slope + x["bp"]
    pipeline = LinearRegression().fit(x, y)
    onnx_bytes = to_onnx(
        pipeline, initial_types=[("input", FloatTensorType([None, len(names)]))], target_opset=OPSET
    ).SerializeToString()
    sample = x.assign(**{target: y})
    answer = import_onnx(base, onnx_bytes, sample, targetType="Regression", targetName=target)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_model_replacement_through_the_client(dr_client, live_server):
    deployment = dr.Deployment.get(REGRESSION)
    new_model = regression_import(live_server, 2.0)
    validation = deployment.validate_replacement_model(new_model_id=new_model)
    assert validation[0] == "passing"
    deployment.perform_model_replace(new_model, "ACCURACY")
    assert deployment.model["id"] == new_model
    assert dr.Deployment.get(REGRESSION).model["id"] == new_model
    frame = pd.read_csv(SAMPLES / "diabetes_regression.csv")
    result = dr_predict(deployment, frame)
    assert result.response_headers["X-DataRobot-Model-Id"] == new_model
    other_target = regression_import(live_server, 3.0, target="something_else")
    with pytest.raises(ClientError) as rejected:
        deployment.replace_model(other_target, "ACCURACY")
    assert rejected.value.status_code == 422
    assert "target 'something_else' differs" in str(rejected.value)
    assert dr.Deployment.get(REGRESSION).model["id"] == new_model


def test_settings_readable_and_editable(client, dr_client, live_server):
    url = f"/api/v2/deployments/{BINARY}/settings/"
    settings = client.get(url, headers=AUTH).json()
    assert settings["predictionThreshold"] is None and len(settings["humilityRules"]) == 2
    changed = client.patch(url, headers=AUTH, json={"predictionThreshold": 0.9, "humilityRules": []})
    assert changed.status_code == 200, changed.text
    assert changed.json()["predictionThreshold"] == 0.9 and changed.json()["humilityRules"] == []
    frame = pd.read_csv(SAMPLES / "diabetes_binary.csv")
    scored = dr_predict(dr.Deployment.get(BINARY), frame).dataframe
    assert set(scored["THRESHOLD"]) == {0.9}
    assert client.patch(url, headers=AUTH, json={"predictionThreshold": 2}).status_code == 400
    assert client.patch(url, headers=AUTH, json={"humilityRules": [{"trigger": "nope"}]}).status_code == 400
    rule = {"name": "r", "trigger": "outlyingInput", "action": "noOperation", "feature": "height"}
    unknown = client.patch(url, headers=AUTH, json={"humilityRules": [rule]})
    assert unknown.status_code == 400 and "'height' is not a feature" in unknown.json()["message"]
    rule["feature"] = "bmi"
    added = client.patch(url, headers=AUTH, json={"humilityRules": [rule]}).json()["humilityRules"]
    assert len(added) == 1 and len(added[0]["id"]) == 24  # an id is assigned, as DataRobot does
    assert client.patch(url, headers=AUTH, json={"datarobotKey": "key-0123456789"}).status_code == 200
    assert client.get(url, headers=AUTH).json()["datarobotKeyRequired"] is True
    plain = client.post(
        f"/predApi/v1.0/deployments/{BINARY}/predictions", headers={**AUTH, "Content-Type": "text/csv"}, content=b""
    )
    assert plain.status_code == 401  # the key is now required ...
    deployment = dr.Deployment.get(BINARY)
    assert deployment.default_prediction_server["datarobot-key"] == "key-0123456789"
    assert len(dr_predict(deployment, frame).dataframe) == len(frame)  # ... and datarobot_predict sends it


def test_tokens_created_scoped_listed_and_revoked(client):
    created = client.post(
        "/api/v2/tokens/", headers=AUTH, json={"name": "scorer", "deployments": [BINARY], "description": "app"}
    )
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    assert created.json()["deployments"] == [BINARY] and created.json()["manageDeployments"] is False
    listed = client.get("/api/v2/tokens/", headers=AUTH).json()["data"]
    scorer = next(t for t in listed if t["name"] == "scorer")
    assert "token" not in scorer and "sha256" not in scorer and secret not in str(listed)
    own = {"Authorization": f"Bearer {secret}", "Content-Type": "text/csv"}
    body = (SAMPLES / "diabetes_binary.csv").read_bytes()
    assert client.post(f"/predApi/v1.0/deployments/{BINARY}/predictions", headers=own, content=body).status_code == 200
    other = client.post(f"/predApi/v1.0/deployments/{REGRESSION}/predictions", headers=own, content=body)
    assert other.status_code == 403
    assert client.get("/api/v2/deployments/", headers=own).status_code == 403  # prediction-only token
    assert client.get("/api/v2/tokens/", headers=own).status_code == 403
    assert client.get("/api/v2/version/", headers=own).status_code == 200
    scoped = client.patch("/api/v2/tokens/scorer/", headers=AUTH, json={"addDeployments": [REGRESSION]})
    assert scoped.json()["deployments"] == sorted([BINARY, REGRESSION])
    assert client.get("/api/v2/tokens/scorer/", headers=AUTH).json() == scoped.json()
    regression_body = (SAMPLES / "diabetes_regression.csv").read_bytes()
    answer = client.post(f"/predApi/v1.0/deployments/{REGRESSION}/predictions", headers=own, content=regression_body)
    assert answer.status_code == 200
    assert client.patch("/api/v2/tokens/scorer/", headers=AUTH, json={"addDeployments": ["0" * 24]}).status_code == 404
    assert client.post("/api/v2/tokens/", headers=AUTH, json={"name": "scorer"}).status_code == 409
    assert client.post("/api/v2/tokens/", headers=AUTH, json={"name": "../x"}).status_code == 400
    assert client.delete("/api/v2/tokens/scorer/", headers=AUTH).status_code == 204
    assert client.post(f"/predApi/v1.0/deployments/{BINARY}/predictions", headers=own, content=body).status_code == 401
    assert client.delete("/api/v2/tokens/admin/", headers=AUTH).status_code == 400  # not itself


def test_management_needs_credentials(client):
    assert client.get("/api/v2/deployments/").status_code == 401
    assert client.get("/api/v2/deployments/", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get(f"/api/v2/deployments/{'0' * 24}/", headers=AUTH).status_code == 404
    assert client.patch(f"/api/v2/deployments/{BINARY}/", headers=AUTH, content=b"{").status_code == 400
    body = {"modelId": "0" * 24, "label": "x"}
    create = client.post("/api/v2/deployments/fromLearningModel/", headers=AUTH, json=body)
    assert create.status_code == 404


def test_sklearn_pickle_over_rest_when_allowed(tmp_path, bucket):
    from fastapi.testclient import TestClient

    from drcompat.api import create_app
    from drcompat.config import Settings

    frame = churn_frame()
    pipeline = churn_pipeline(frame)
    settings = Settings(storage_root=bucket, registry_ttl_seconds=0.0, allow_pickle_import=True)
    with TestClient(create_app(settings)) as client:
        import joblib

        buffer = io.BytesIO()
        joblib.dump(pipeline, buffer)
        files = {
            "model": ("churn.joblib", buffer.getvalue(), "application/octet-stream"),
            "sample": ("s.csv", frame.to_csv(index=False).encode(), "text/csv"),
        }
        answer = client.post("/api/v2/importedModels/", headers=AUTH, files=files, data={"targetName": "churned"})
        assert answer.status_code == 201, answer.text
        model = answer.json()
        assert model["targetType"] == "Binary" and model["classLabels"] == ["no", "yes"]
        assert model["name"] == "churn"  # the file's name when none is given
        created = client.post(
            "/api/v2/deployments/fromImportedModel/", headers=AUTH, json={"modelId": model["id"], "label": "churn"}
        )
        deployment_id = created.json()["id"]
        rows = frame.drop(columns=["churned"]).head(10)
        scored = client.post(
            f"/predApi/v1.0/deployments/{deployment_id}/predictionExplanations",
            headers={**AUTH, "Content-Type": "text/csv"},
            content=rows.to_csv(index=False).encode(),
        )
        assert scored.status_code == 200, scored.text
        probabilities = [
            next(v["value"] for v in r["predictionValues"] if v["label"] == "yes") for r in scored.json()["data"]
        ]
        assert np.allclose(probabilities, pipeline.predict_proba(rows)[:, 1], atol=1e-5)


def test_cli_imports_a_pipeline_deploys_it_and_manages_tokens(bucket, tmp_path, capsys):
    import json
    import subprocess
    import sys

    from fastapi.testclient import TestClient

    from drcompat.api import create_app
    from drcompat.cli import main
    from drcompat.config import Settings

    frame = churn_frame()
    pipeline = churn_pipeline(frame)
    (tmp_path / "churn.pkl").write_bytes(pickle.dumps(pipeline))
    frame.to_csv(tmp_path / "train.csv", index=False)
    root = ["--storage-root", str(bucket)]
    source = ["models", "import", str(tmp_path / "churn.pkl"), "--sample", str(tmp_path / "train.csv")]
    code = main([*root, *source, "--target-name", "churned", "--deploy", "Churn", "--token", "demo"])
    assert code == 0
    made = json.loads(capsys.readouterr().out)
    assert made["targetType"] == "Binary" and made["features"][2] == "plan (categorical)"
    assert main([*root, "tokens", "create", "app", "--deployment", made["deploymentId"]]) == 0
    secret = capsys.readouterr().out.splitlines()[0]
    listed = subprocess.run(
        [sys.executable, "-m", "drcompat.cli", *root, "tokens", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert f"app  []  {made['deploymentId']}" in listed and secret not in listed
    rows = frame.drop(columns=["churned"]).head(8).to_csv(index=False).encode()
    with TestClient(create_app(Settings(storage_root=bucket, registry_ttl_seconds=0.0))) as client:
        url = f"/predApi/v1.0/deployments/{made['deploymentId']}/predictionExplanations?maxExplanations=2"
        answer = client.post(
            url, headers={"Authorization": f"Bearer {secret}", "Content-Type": "text/csv"}, content=rows
        )
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["data"][0]["predictionExplanations"]) == 2
        assert main([*root, "tokens", "revoke", "app"]) == 0
        revoked = client.post(
            url, headers={"Authorization": f"Bearer {secret}", "Content-Type": "text/csv"}, content=rows
        )
        assert revoked.status_code == 401
    assert main([*root, "tokens", "scope", "nobody", "--add", made["deploymentId"]]) == 2
    assert "Token 'nobody' was not found" in capsys.readouterr().err
    assert (
        main(
            [
                *root,
                "models",
                "import",
                str(tmp_path / "churn.pkl"),
                "--sample",
                str(tmp_path / "nope.csv"),
                "--target-name",
                "churned",
            ]
        )
        == 2
    )
    assert "No such file or directory" in capsys.readouterr().err


def test_official_client_follows_next_links_past_one_page(dr_client, client):
    for number in range(20):
        body = {"modelId": BINARY_MODEL, "label": f"copy {number:02d}"}
        assert client.post("/api/v2/deployments/fromImportedModel/", headers=AUTH, json=body).status_code == 201
    first = client.get("/api/v2/deployments/", headers=AUTH).json()
    assert first["count"] == 20 and first["totalCount"] == 25 and first["next"]
    listed = dr.Deployment.list()  # the client's unpaginate: follows ``next`` until it is null
    assert len(listed) == 25 and len({d.id for d in listed}) == 25
    assert [d.label for d in dr.Deployment.list(search="copy 1")][:3] == ["copy 10", "copy 11", "copy 12"]


def test_a_broken_model_version_does_not_hide_the_other_deployments(client, bucket):
    (bucket / "models" / "65f1b0000000000000000003" / "model.yaml").write_text("modelId: [")
    listed = client.get("/api/v2/deployments/", headers=AUTH)
    assert listed.status_code == 200 and listed.json()["totalCount"] == 5
    broken = client.get(f"/api/v2/deployments/{MULTICLASS}/", headers=AUTH).json()
    assert broken["model"] == {
        "id": "65f1b0000000000000000003",
        "type": "",
        "targetName": "",
        "targetType": "",
        "projectId": "",
    }


def test_numeric_pipeline_becomes_a_matrix_model_in_its_own_feature_order(bucket):
    from fastapi.testclient import TestClient
    from sklearn.linear_model import Ridge

    from drcompat.api import create_app
    from drcompat.config import Settings
    from drcompat.registry.service import RegistryService
    from drcompat.registry.sklearn_import import convert_pipeline
    from drcompat.storage import LocalStorage

    rng = np.random.default_rng(5)
    x = pd.DataFrame(rng.normal(0, 1, (200, 3)), columns=["b", "a", "c"])
    y = 3 * x["a"] - x["b"] + 0.5 * x["c"]
    pipeline = Pipeline([("scale", StandardScaler()), ("model", Ridge(alpha=0.1))]).fit(x, y)
    sample = x[["c", "a", "b"]].assign(y=y)  # the sample's column order differs from the model's
    onnx_bytes, spec = convert_pipeline(pickle.dumps(pipeline), sample.to_csv(index=False).encode(), "y")
    registry = RegistryService(LocalStorage(bucket))
    meta = registry.import_model(onnx_bytes, sample.to_csv(index=False).encode(), spec)
    assert [f.name for f in meta.features] == ["b", "a", "c"] and meta.raw["holdout"]["metric"] == "r2"
    deployment_id = registry.create_deployment(meta.model_id, {"label": "ridge"}, ["admin"])
    rows = sample.drop(columns=["y"]).head(6)
    with TestClient(create_app(Settings(storage_root=bucket, registry_ttl_seconds=0.0))) as client:
        answer = client.post(
            f"/predApi/v1.0/deployments/{deployment_id}/predictions",
            headers={**AUTH, "Content-Type": "text/csv"},
            content=rows.to_csv(index=False).encode(),
        )
    assert answer.status_code == 200, answer.text
    got = [r["prediction"] for r in answer.json()["data"]]
    assert np.allclose(got, pipeline.predict(rows[["b", "a", "c"]]), atol=1e-3)


def test_without_the_extra_a_pipeline_import_says_what_to_install(monkeypatch):
    import sys

    from drcompat.registry.importer import ModelImportError
    from drcompat.registry.sklearn_import import convert_pipeline

    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # as if the extra were not installed
    with pytest.raises(ModelImportError) as missing:
        convert_pipeline(b"", b"a\n1\n", "a")
    assert "pip install 'drcompat[sklearn]'" in missing.value.message


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v2/tokens/", {"name": 123}),
        ("post", "/api/v2/tokens/", {"name": "run-0123"}),
        ("post", "/api/v2/tokens/", {"name": "x", "deployments": "abc"}),
        ("post", "/api/v2/tokens/", {"name": "x", "manageDeployments": "yes"}),
        ("post", "/api/v2/tokens/", {"name": "x", "expiresAt": "soon"}),
        ("post", "/api/v2/tokens/", [1, 2]),
        ("patch", "/api/v2/tokens/demo/", {"addDeployments": "abc"}),
        ("patch", "/api/v2/tokens/demo/", {"owner": "me"}),
        ("patch", f"/api/v2/deployments/{BINARY}/", {"label": {"a": 1}}),
        ("patch", f"/api/v2/deployments/{BINARY}/", {"label": ""}),
        ("patch", f"/api/v2/deployments/{BINARY}/", {"modelId": BINARY_MODEL}),
        ("patch", f"/api/v2/deployments/{BINARY}/", {}),
        ("patch", f"/api/v2/deployments/{BINARY}/settings/", {"humilityRules": "all"}),
        ("patch", f"/api/v2/deployments/{BINARY}/settings/", {"datarobotKey": 5}),
        ("patch", f"/api/v2/deployments/{BINARY}/settings/", {"predictionThreshold": "0.5"}),
        ("patch", f"/api/v2/deployments/{BINARY}/settings/", {"colour": "red"}),
        ("patch", f"/api/v2/deployments/{BINARY}/model/", {"modelId": 7}),
        ("patch", f"/api/v2/deployments/{BINARY}/model/", {"modelId": BINARY_MODEL, "reason": "BORED"}),
        ("post", "/api/v2/deployments/fromLearningModel/", {"modelId": BINARY_MODEL}),
        ("post", "/api/v2/deployments/fromLearningModel/", {"modelId": BINARY_MODEL, "label": "x", "importance": 3}),
        ("post", "/api/v2/deployments/fromModelPackage/", {"label": "x"}),
        ("post", "/api/v2/deployments/fromImportedModel/", {"modelId": "../../etc", "label": "x"}),
        ("get", "/api/v2/importedModels/not-an-id/", None),
        ("get", "/api/v2/deployments/?offset=-1", None),
    ],
)
def test_bad_management_input_is_a_4xx_message(client, method, path, body):
    kwargs = {"json": body} if body is not None else {}
    answer = getattr(client, method)(path, headers=AUTH, **kwargs)
    assert 400 <= answer.status_code < 500, answer.text
    assert set(answer.json()) == {"message"} and answer.json()["message"]
    assert client.get(f"/api/v2/deployments/{BINARY}/", headers=AUTH).json()["label"] == "Diabetes progression (binary)"


def test_replacing_an_unreadable_model_is_refused_with_the_reason(client, bucket):
    (bucket / "models" / "65f1b0000000000000000002" / "model.yaml").write_text("modelId: [")
    body = {"modelId": "65f1b0000000000000000001", "reason": "ERRORS"}
    answer = client.patch(f"/api/v2/deployments/{REGRESSION}/model/", headers=AUTH, json=body)
    assert answer.status_code == 422 and "cannot be read" in answer.json()["message"]
