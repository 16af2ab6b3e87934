"""Request in, response out: the JSON and CSV contracts for each target type and input form."""

from __future__ import annotations

import bz2
import gzip
import io
import json

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest

from conftest import (
    AUTH,
    BINARY,
    BINARY_MODEL,
    DEMO_BUCKET,
    MULTICLASS,
    MULTICLASS_MODEL,
    REGRESSION,
    REGRESSION_MODEL,
    sample,
    url,
)


def bare_onnx(model_id: str, frame: pd.DataFrame) -> np.ndarray:
    """What onnxruntime itself answers for the sample, fed by hand (the reference)."""
    session = ort.InferenceSession(str(DEMO_BUCKET / "models" / model_id / "model.onnx"))
    inputs = session.get_inputs()
    if len(inputs) == 1:
        dtype = np.float64 if inputs[0].type == "tensor(double)" else np.float32
        feeds = {inputs[0].name: frame.to_numpy(dtype)}
    else:
        feeds = {
            i.name: (frame[i.name].astype(str) if i.type == "tensor(string)" else frame[i.name].astype(np.float32))
            .to_numpy()
            .reshape(-1, 1)
            for i in inputs
        }
    outputs = [o.name for o in session.get_outputs()]
    name = "probabilities" if "probabilities" in outputs else outputs[0]
    return session.run([name], feeds)[0]


def test_binary_json_shape_and_values(client):
    body = sample("diabetes_binary")
    response = client.post(url(BINARY), content=body, headers={**AUTH, "Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    rows = response.json()["data"]
    frame = pd.read_csv(io.BytesIO(body))
    expected = bare_onnx(BINARY_MODEL, frame)  # columns in classLabels order [0, 1]
    assert [r["rowId"] for r in rows] == list(range(len(frame)))
    for row, probs in zip(rows, expected, strict=True):
        assert set(row) == {"predictionValues", "predictionThreshold", "prediction", "rowId", "humility"}
        values = row["predictionValues"]
        assert [v["label"] for v in values] == [1, 0]  # positive class first, labels keep their type
        assert values[0]["value"] == pytest.approx(float(probs[1]), abs=1e-6)
        assert values[1]["value"] == pytest.approx(float(probs[0]), abs=1e-6)
        assert row["predictionThreshold"] == 0.5
        assert row["prediction"] == (1 if probs[1] >= 0.5 else 0)
    assert {r["prediction"] for r in rows} == {0, 1}  # the sample exercises both labels


def test_regression_json_shape_and_values(client):
    body = sample("diabetes_regression")
    response = client.post(url(REGRESSION), content=body, headers={**AUTH, "Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    rows = response.json()["data"]
    expected = bare_onnx(REGRESSION_MODEL, pd.read_csv(io.BytesIO(body)))[:, 0]
    for i, (row, value) in enumerate(zip(rows, expected, strict=True)):
        assert set(row) == {"predictionValues", "prediction", "rowId", "humility"}
        assert row["rowId"] == i
        assert row["predictionValues"] == [{"label": "progression", "value": row["prediction"]}]
        assert row["prediction"] == pytest.approx(float(value), rel=1e-6)


def test_multiclass_json_shape_and_values(client):
    body = sample("iris_multiclass")
    response = client.post(url(MULTICLASS), content=body, headers={**AUTH, "Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    rows = response.json()["data"]
    expected = bare_onnx(MULTICLASS_MODEL, pd.read_csv(io.BytesIO(body)))
    labels = ["setosa", "versicolor", "virginica"]
    for row, probs in zip(rows, expected, strict=True):
        assert "predictionThreshold" not in row
        assert [v["label"] for v in row["predictionValues"]] == labels
        assert [v["value"] for v in row["predictionValues"]] == pytest.approx([float(p) for p in probs], abs=1e-6)
        assert row["prediction"] == labels[int(np.argmax(probs))]
    assert {r["prediction"] for r in rows} == set(labels)


def test_json_body_matches_csv_body(client):
    frame = pd.read_csv(io.BytesIO(sample("diabetes_binary")))
    records = json.loads(frame.to_json(orient="records"))
    as_json = client.post(url(BINARY), json=records, headers=AUTH)
    as_csv = client.post(url(BINARY), content=sample("diabetes_binary"), headers={**AUTH, "Content-Type": "text/csv"})
    assert as_json.status_code == 200, as_json.text
    assert as_json.json() == as_csv.json()


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [
        ("text/plain", lambda b: (b, {})),
        ("text/csv; charset=utf-8", lambda b: (b, {})),
        ("text/csv", lambda b: (gzip.compress(b), {"Content-Encoding": "gzip"})),
        ("text/csv", lambda b: (bz2.compress(b), {"Content-Encoding": "bz2"})),
        ("text/csv", lambda b: (gzip.compress(b[:300]) + gzip.compress(b[300:]), {"Content-Encoding": "gzip"})),
    ],
    ids=["text-plain", "charset", "gzip", "bz2", "gzip-multi-member"],
)
def test_every_body_form_gives_the_same_answer(client, content_type, encode):
    reference = client.post(
        url(REGRESSION), content=sample("diabetes_regression"), headers={**AUTH, "Content-Type": "text/csv"}
    )
    body, extra = encode(sample("diabetes_regression"))
    response = client.post(url(REGRESSION), content=body, headers={**AUTH, "Content-Type": content_type, **extra})
    assert response.status_code == 200, response.text
    assert response.json() == reference.json()


def test_multipart_file_upload_like_curl_dash_f(client):
    reference = client.post(
        url(MULTICLASS), content=sample("iris_multiclass"), headers={**AUTH, "Content-Type": "text/csv"}
    )
    files = {"file": ("iris.csv", sample("iris_multiclass"), "text/csv")}
    response = client.post(url(MULTICLASS), files=files, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json() == reference.json()


def test_gzipped_multipart(client):
    files = {"file": ("iris.csv", sample("iris_multiclass"), "application/octet-stream")}
    prepared = client.build_request("POST", url(MULTICLASS), files=files, headers=AUTH)
    body = gzip.compress(prepared.read())
    headers = {**AUTH, "Content-Type": prepared.headers["content-type"], "Content-Encoding": "gzip"}
    response = client.post(url(MULTICLASS), content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 20


def test_latin1_charset_is_honoured(client):
    text = "age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,city\n50,male,30,90,180,110,40,4,4.5,90,Zürich\n"
    response = client.post(
        url(BINARY) + "?passthroughColumns=city",
        content=text.encode("latin-1"),
        headers={**AUTH, "Content-Type": "text/csv; charset=latin-1"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["passthroughValues"] == {"city": "Zürich"}


def test_route_without_predapi_prefix(client):
    with_prefix = client.post(
        url(REGRESSION), content=sample("diabetes_regression"), headers={**AUTH, "Content-Type": "text/csv"}
    )
    without = client.post(
        url(REGRESSION, prefix=""), content=sample("diabetes_regression"), headers={**AUTH, "Content-Type": "text/csv"}
    )
    assert without.status_code == 200
    assert without.json() == with_prefix.json()


def test_passthrough_columns_repeatable(client):
    body = (
        "id,age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,note\n"
        "7,50,male,30,90,180,110,40,4,4.5,90,a b\n"
        "8,40,female,20,80,150,90,60,3,4,80,\n"
    )
    response = client.post(
        url(BINARY) + "?passthroughColumns=id&passthroughColumns=note",
        content=body,
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    rows = response.json()["data"]
    assert [r["passthroughValues"] for r in rows] == [{"id": 7, "note": "a b"}, {"id": 8, "note": None}]


def test_passthrough_columns_set_all(client):
    records = [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2, "tag": 'x,\n"y"'}]
    response = client.post(url(MULTICLASS) + "?passthroughColumnsSet=all", json=records, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["passthroughValues"] == records[0]


def test_csv_response_binary_columns(client):
    headers = {**AUTH, "Content-Type": "text/csv", "Accept": "text/csv"}
    response = client.post(url(BINARY) + "?passthroughColumns=age", content=sample("diabetes_binary"), headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(response.text))
    assert list(frame.columns) == [
        "age",
        "progression_high_1_PREDICTION",
        "progression_high_0_PREDICTION",
        "progression_high_PREDICTION",
        "THRESHOLD",
        "POSITIVE_CLASS",
        "HUMILITY_65f1c0000000000000000001_TRIGGERED",
        "HUMILITY_65f1c0000000000000000002_TRIGGERED",
    ]
    as_json = client.post(
        url(BINARY), content=sample("diabetes_binary"), headers={**AUTH, "Content-Type": "text/csv"}
    ).json()
    assert frame["progression_high_PREDICTION"].tolist() == [r["prediction"] for r in as_json["data"]]
    assert frame["progression_high_1_PREDICTION"].tolist() == pytest.approx(
        [r["predictionValues"][0]["value"] for r in as_json["data"]]
    )
    assert set(frame["THRESHOLD"]) == {0.5} and set(frame["POSITIVE_CLASS"]) == {1}


def test_csv_response_regression_and_multiclass_columns(client):
    headers = {**AUTH, "Content-Type": "text/csv", "Accept": "text/csv"}
    regression = pd.read_csv(
        io.StringIO(client.post(url(REGRESSION), content=sample("diabetes_regression"), headers=headers).text)
    )
    assert list(regression.columns) == [
        "progression_PREDICTION",
        "HUMILITY_65f1c0000000000000000003_TRIGGERED",
        "HUMILITY_65f1c0000000000000000004_TRIGGERED",
    ]
    multiclass = pd.read_csv(
        io.StringIO(client.post(url(MULTICLASS), content=sample("iris_multiclass"), headers=headers).text)
    )
    assert list(multiclass.columns) == [
        "species_setosa_PREDICTION",
        "species_versicolor_PREDICTION",
        "species_virginica_PREDICTION",
        "species_PREDICTION",
    ]
    assert multiclass.iloc[:, :3].sum(axis=1).to_numpy() == pytest.approx(np.ones(len(multiclass)), abs=1e-5)


def test_accept_json_wins_when_listed_first(client):
    headers = {**AUTH, "Content-Type": "text/csv", "Accept": "application/json, text/csv"}
    response = client.post(url(REGRESSION), content=sample("diabetes_regression"), headers=headers)
    assert response.headers["content-type"].startswith("application/json")


def test_missing_values_are_imputed_not_rejected(client):
    body = "age,sex,bmi,bp,s1,s2,s3,s4,s5,s6\n50,,30,,180,110,40,4,4.5,90\n"
    response = client.post(url(BINARY), content=body, headers={**AUTH, "Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["prediction"] in (0, 1)


def test_extra_columns_are_ignored_and_order_does_not_matter(client):
    frame = pd.read_csv(io.BytesIO(sample("iris_multiclass")))
    shuffled = frame[frame.columns[::-1]].assign(unused="x")
    a = client.post(url(MULTICLASS), content=shuffled.to_csv(index=False), headers={**AUTH, "Content-Type": "text/csv"})
    b = client.post(url(MULTICLASS), content=sample("iris_multiclass"), headers={**AUTH, "Content-Type": "text/csv"})
    assert a.json() == b.json()


def test_numeric_strings_in_json_are_accepted(client):
    records = [{"sepal_length": "5.1", "sepal_width": 3.5, "petal_length": "1.4", "petal_width": 0.2}]
    response = client.post(url(MULTICLASS), json=records, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["prediction"] == "setosa"


def test_large_batch_keeps_input_order(client):
    frame = pd.read_csv(io.BytesIO(sample("diabetes_regression")))
    big = pd.concat([frame] * 500, ignore_index=True)
    response = client.post(
        url(REGRESSION), content=big.to_csv(index=False), headers={**AUTH, "Content-Type": "text/csv"}
    )
    rows = response.json()["data"]
    assert len(rows) == 10_000
    assert [r["rowId"] for r in rows] == list(range(10_000))
    assert rows[20]["prediction"] == rows[0]["prediction"]
