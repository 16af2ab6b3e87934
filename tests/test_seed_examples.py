"""The Prediction API seed's own examples, sent as the seed writes them: its request bodies, its
headers, and the response fields it shows. The seed's datasets have their own columns
(``Feature1``/``Feature2``, ``a,b,c``, ``Latitude``/``Longitude``, ``driver_age``/``territory``/
``gender``), so each example gets a small deployment with exactly those features."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import yaml
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from conftest import TOKEN
from onnx_factory import linear_regression, publish

SEED_BINARY = "65f1a00000000000000000a1"  # Feature1 (numeric), Feature2 (text)
SEED_ABC = "65f1a00000000000000000a2"  # a, b, c (regression)
SEED_INSURANCE = "65f1a00000000000000000a3"  # driver_age, territory, gender (explanations)


def binary_pipeline(numeric: list[str], categorical: list[str], frame: pd.DataFrame, y: np.ndarray) -> bytes:
    prep = ColumnTransformer(
        [("num", StandardScaler(), numeric), ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)]
    )
    pipeline = Pipeline([("prep", prep), ("model", LogisticRegression())]).fit(frame[numeric + categorical], y)
    types = [(c, FloatTensorType([None, 1])) for c in numeric] + [(c, StringTensorType([None, 1])) for c in categorical]
    model = to_onnx(pipeline, initial_types=types, options={id(pipeline): {"zipmap": False}}, target_opset=17)
    return bytes(model.SerializeToString())


def add_binary(bucket: Path, deployment: str, numeric: list[str], categorical: list[str], rows: pd.DataFrame) -> None:
    rng = np.random.default_rng(7)
    y = (rows[numeric[0]].to_numpy() + rng.normal(0, 5, len(rows)) > rows[numeric[0]].median()).astype(int)
    payload = binary_pipeline(numeric, categorical, rows, y)
    model_id = "65f1b" + deployment[5:]
    folder = bucket / "models" / model_id
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(payload)
    rows[numeric + categorical].head(16).to_csv(folder / "background.csv", index=False)
    metadata = {
        "modelId": model_id,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "name": f"seed_{deployment[-2:]}",
        "targetType": "Binary",
        "targetName": "target",
        "classLabels": [0, 1],
        "positiveClassLabel": 1,
        "features": [{"name": c, "type": "numeric"} for c in numeric]
        + [{"name": c, "type": "categorical"} for c in categorical],
        "outputs": {"probabilities": "probabilities"},
    }
    (folder / "model.yaml").write_text(yaml.safe_dump(metadata))
    deploy(bucket, deployment, model_id)


def deploy(bucket: Path, deployment: str, model_id: str) -> None:
    doc = yaml.safe_load((bucket / "deployments.yaml").read_text())
    doc["deployments"][deployment] = {"label": "seed example", "modelId": model_id, "tokens": ["demo"]}
    (bucket / "deployments.yaml").write_text(yaml.safe_dump(doc))


@pytest.fixture
def seed_bucket(bucket: Path) -> Path:
    rng = np.random.default_rng(3)
    n = 200
    add_binary(
        bucket,
        SEED_BINARY,
        ["Feature1"],
        ["Feature2"],
        pd.DataFrame(
            {"Feature1": rng.integers(0, 100, n), "Feature2": rng.choice(["text value 1", "text value 2"], n)}
        ),
    )
    add_binary(
        bucket,
        SEED_INSURANCE,
        ["driver_age", "territory"],
        ["gender"],
        pd.DataFrame(
            {
                "driver_age": rng.integers(18, 80, n),
                "territory": rng.integers(1, 5, n),
                "gender": rng.choice(["M", "F"], n),
            }
        ),
    )
    publish(bucket, "65f1b00000000000000000a2", linear_regression([1.0, 2.0, 3.0], 0.5), features=["a", "b", "c"])
    deploy(bucket, SEED_ABC, "65f1b00000000000000000a2")
    return bucket


def endpoint(base: str, deployment: str, route: str = "predictions") -> str:
    return f"{base}/predApi/v1.0/deployments/{deployment}/{route}"


def test_python_session_example_one_json_object_per_request(seed_bucket, live_server):
    """The seed's requests.Session loop: one json.dumps({...}) per POST, Content-Type text/json."""
    data = [
        json.dumps({"Feature1": 42, "Feature2": "text value 1"}),
        json.dumps({"Feature1": 60, "Feature2": "text value 2"}),
    ]
    api_key = TOKEN
    api_endpoint = endpoint(live_server, SEED_BINARY)
    session = requests.Session()
    session.headers = {  # type: ignore[assignment]  # as the seed writes it
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "text/json",
    }
    for row in data:
        response = session.post(api_endpoint, data=row, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["data"]) == 1 and body["data"][0]["rowId"] == 0
        assert {v["label"] for v in body["data"][0]["predictionValues"]} == {0, 1}
        assert response.headers["X-DataRobot-Execution-Time"].isdigit()  # whole ms, e.g. 38
        int(response.headers["X-DataRobot-Execution-Time"])  # what a client does with it
        assert response.headers["X-DataRobot-Model-Cache-Hit"] in ("true", "false")


def test_curl_json_array_and_in_body_csv_examples(seed_bucket, client):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"/predApi/v1.0/deployments/{SEED_ABC}/predictions"
    # As printed, the seed's --data '[{"a": 4, "b": 5, "c": 6}\]' carries a stray backslash: the
    # shell sends it, and it is malformed JSON, answered with a 400 message (never a 500).
    literal = client.post(
        url, content=b'[{"a": 4, "b": 5, "c": 6}\\]', headers={**headers, "Content-Type": "application/json"}
    )
    assert literal.status_code == 400 and "json" in literal.json()["message"].lower()
    fixed = client.post(
        url, content=b'[{"a": 4, "b": 5, "c": 6}]', headers={**headers, "Content-Type": "application/json"}
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["data"][0]["prediction"] == pytest.approx(4 + 10 + 18 + 0.5)
    text = client.post(url, content=b"a,b,c\n1,2,3\n7,8,9\n", headers={**headers, "content-type": "text/plain"})
    assert text.status_code == 200, text.text
    assert [r["rowId"] for r in text.json()["data"]] == [0, 1]
    assert [r["prediction"] for r in text.json()["data"]] == pytest.approx([14.5, 50.5])
    assert text.headers["X-DataRobot-Execution-Time"].isdigit()


def test_file_upload_with_two_passthrough_columns_keeps_values_as_sent(seed_bucket, live_server, tmp_path):
    """curl -F file=@dataset.csv '...?passthroughColumns=Latitude&passthroughColumns=Longitude'."""
    dataset = tmp_path / "dataset.csv"
    dataset.write_text(
        "Feature1,Feature2,Latitude,Longitude,id\n"
        "42,text value 1,-25.433508,22.759397,007\n"
        "60,text value 2,41.051128,14.49598,010\n"
    )
    url = endpoint(live_server, SEED_BINARY) + "?passthroughColumns=Latitude&passthroughColumns=Longitude"
    with dataset.open("rb") as handle:
        response = requests.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, files={"file": handle}, timeout=10)
    assert response.status_code == 200, response.text
    assert b'"passthroughValues":{"Latitude":41.051128,"Longitude":14.49598}' in response.content
    rows = response.json()["data"]
    assert [r["passthroughValues"] for r in rows] == [
        {"Latitude": -25.433508, "Longitude": 22.759397},
        {"Latitude": 41.051128, "Longitude": 14.49598},
    ]
    for row in rows:  # the fields the seed's answer shows
        assert row["predictionThreshold"] == 0.5 and row["prediction"] in (0, 1)
        assert [v["label"] for v in row["predictionValues"]] == [1, 0]
    with dataset.open("rb") as handle:
        ids = requests.post(
            endpoint(live_server, SEED_BINARY) + "?passthroughColumns=id",
            headers={"Authorization": f"Bearer {TOKEN}", "Accept": "text/csv"},
            files={"file": handle},
            timeout=10,
        )
    assert ids.status_code == 200 and ids.text.splitlines()[1].startswith("007,")
    as_json = requests.post(
        endpoint(live_server, SEED_BINARY) + "?passthroughColumnsSet=all",
        headers={"Authorization": f"Bearer {TOKEN}"},
        files={"file": dataset.read_bytes()},
        timeout=10,
    ).json()["data"]
    assert as_json[0]["passthroughValues"]["id"] == "007" and as_json[1]["passthroughValues"]["Feature1"] == 60


def test_json_passthrough_values_come_back_as_sent(seed_bucket, client):
    body = b'[{"Feature1": 1, "Feature2": "x", "Latitude": 41.051128, "n": null, "k": 7}, '
    body += b'{"Feature1": 2, "Feature2": "y"}]'
    response = client.post(
        f"/predApi/v1.0/deployments/{SEED_BINARY}/predictions?passthroughColumnsSet=all",
        content=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert b'"passthroughValues":{"Feature1":1,"Feature2":"x","Latitude":41.051128,"n":null,"k":7}' in response.content
    assert response.json()["data"][1]["passthroughValues"] == {
        "Feature1": 2,
        "Feature2": "y",
        "Latitude": None,
        "n": None,
        "k": None,
    }


def test_explanations_example_and_max_codes_alias(seed_bucket, live_server, tmp_path):
    dataset = tmp_path / "dataset.csv"
    dataset.write_text("driver_age,territory,gender\n49,1,M\n23,3,F\n")
    base = endpoint(live_server, SEED_INSURANCE, "predictionExplanations")
    with dataset.open("rb") as handle:
        response = requests.post(base, headers={"Authorization": f"Bearer {TOKEN}"}, files={"file": handle}, timeout=20)
    assert response.status_code == 200, response.text
    assert response.headers["X-DataRobot-Execution-Time"].isdigit()
    first = response.json()["data"][0]
    assert first["rowId"] == 0 and first["prediction"] in (0, 1)
    explanations = first["predictionExplanations"]
    assert len(explanations) == 3  # maxExplanations defaults to 3
    by_feature = {e["feature"]: e for e in explanations}
    assert by_feature["driver_age"]["featureValue"] == 49 and by_feature["gender"]["featureValue"] == "M"
    assert by_feature["territory"]["featureValue"] == 1
    for item in explanations:
        assert item["label"] == 1 and isinstance(item["strength"], float)
        assert item["qualitativeStrength"] in ("+++", "++", "+", "-", "--", "---")
    seed_query = "?maxExplanations=2&thresholdLow=0.2&thresholdHigh=0.5"
    with dataset.open("rb") as handle:
        limited = requests.post(
            base + seed_query, headers={"Authorization": f"Bearer {TOKEN}"}, files={"file": handle}, timeout=20
        )
    assert limited.status_code == 200, limited.text
    assert all(len(r["predictionExplanations"]) <= 2 for r in limited.json()["data"])
    with dataset.open("rb") as handle:
        codes = requests.post(
            base + "?maxCodes=1", headers={"Authorization": f"Bearer {TOKEN}"}, files={"file": handle}, timeout=20
        )
    assert codes.status_code == 200, codes.text
    assert [len(r["predictionExplanations"]) for r in codes.json()["data"]] == [1, 1]
