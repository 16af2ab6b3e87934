"""Bad input never crashes anything: each case gets a clear 4xx ``{"message"}`` and the process serves on."""

from __future__ import annotations

import bz2
import gzip

import pytest

from conftest import AUTH, BINARY, MULTICLASS, REGRESSION, sample, url

IRIS_HEADER = "sepal_length,sepal_width,petal_length,petal_width\n"

# (case id, deployment, query, headers, body, status, words the message must contain)
CASES = [
    ("empty body", MULTICLASS, "", {"Content-Type": "text/csv"}, b"", 400, "empty"),
    ("whitespace body", MULTICLASS, "", {"Content-Type": "text/csv"}, b"  \n ", 400, "empty"),
    ("header only", MULTICLASS, "", {"Content-Type": "text/csv"}, IRIS_HEADER.encode(), 400, "no rows"),
    ("missing columns", MULTICLASS, "", {"Content-Type": "text/csv"}, b"sepal_length,foo\n1,2\n", 400, "sepal_width"),
    (
        "ragged csv",
        MULTICLASS,
        "",
        {"Content-Type": "text/csv"},
        (IRIS_HEADER + "1,2,3,4\n1,2,3,4,5,6\n").encode(),
        400,
        "csv",
    ),
    (
        "bad utf-8",
        MULTICLASS,
        "",
        {"Content-Type": "text/csv"},
        IRIS_HEADER.encode() + b"1,2,\xff\xfe,4\n",
        400,
        "utf-8",
    ),
    (
        "unknown charset",
        MULTICLASS,
        "",
        {"Content-Type": "text/csv; charset=klingon"},
        sample("iris_multiclass"),
        400,
        "charset",
    ),
    (
        "non-text charset",
        MULTICLASS,
        "",
        {"Content-Type": "text/csv; charset=rot13"},
        sample("iris_multiclass"),
        400,
        "charset",
    ),
    (
        "wrong type csv",
        MULTICLASS,
        "",
        {"Content-Type": "text/csv"},
        (IRIS_HEADER + "1,2,abc,4\n").encode(),
        400,
        "petal_length",
    ),
    ("malformed json", MULTICLASS, "", {"Content-Type": "application/json"}, b'[{"a": 1,', 400, "json"),
    (
        "json neither object nor array",
        MULTICLASS,
        "",
        {"Content-Type": "application/json"},
        b'"sepal_length"',
        400,
        "array of objects",
    ),
    (
        "json array of numbers",
        MULTICLASS,
        "",
        {"Content-Type": "application/json"},
        b"[1, 2, 3]",
        400,
        "array of objects",
    ),
    (
        "json mixed rows",
        MULTICLASS,
        "",
        {"Content-Type": "application/json"},
        b'[{"a": 1}, 5]',
        400,
        "array of objects",
    ),
    ("json empty array", MULTICLASS, "", {"Content-Type": "application/json"}, b"[]", 400, "no rows"),
    (
        "json wrong type",
        MULTICLASS,
        "",
        {"Content-Type": "application/json"},
        b'[{"sepal_length": "wide", "sepal_width": 1, "petal_length": 1, "petal_width": 1}]',
        400,
        "sepal_length",
    ),
    (
        "json nested value",
        MULTICLASS,
        "",
        {"Content-Type": "application/json"},
        b'[{"sepal_length": {"x": 1}, "sepal_width": 1, "petal_length": 1, "petal_width": 1}]',
        400,
        "sepal_length",
    ),
    (
        "json object in categorical",
        BINARY,
        "",
        {"Content-Type": "application/json"},
        b'[{"age": 1, "sex": ["m"], "bmi": 1, "bp": 1, "s1": 1, "s2": 1, "s3": 1, "s4": 1, "s5": 1, "s6": 1}]',
        400,
        "sex",
    ),
    ("unknown content type", MULTICLASS, "", {"Content-Type": "application/xml"}, b"<a/>", 415, "content-type"),
    ("no content type", MULTICLASS, "", {}, sample("iris_multiclass"), 415, "content-type"),
    (
        "unknown encoding",
        MULTICLASS,
        "",
        {"Content-Type": "text/csv", "Content-Encoding": "br"},
        b"xx",
        415,
        "encoding",
    ),
    (
        "corrupt gzip",
        MULTICLASS,
        "",
        {"Content-Type": "text/csv", "Content-Encoding": "gzip"},
        b"not gzip at all",
        400,
        "gzip",
    ),
    (
        "truncated gzip",
        MULTICLASS,
        "",
        {"Content-Type": "text/csv", "Content-Encoding": "gzip"},
        gzip.compress(sample("iris_multiclass"))[:-12],
        400,
        "gzip",
    ),
    (
        "corrupt bz2",
        MULTICLASS,
        "",
        {"Content-Type": "text/csv", "Content-Encoding": "bz2"},
        b"BZh9garbage",
        400,
        "bz2",
    ),
    (
        "truncated bz2",
        MULTICLASS,
        "",
        {"Content-Type": "text/csv", "Content-Encoding": "bz2"},
        bz2.compress(sample("iris_multiclass"))[:-10],
        400,
        "bz2",
    ),
    (
        "multipart without boundary",
        MULTICLASS,
        "",
        {"Content-Type": "multipart/form-data"},
        b"--x\r\n",
        400,
        "boundary",
    ),
    (
        "multipart without file part",
        MULTICLASS,
        "",
        {"Content-Type": "multipart/form-data; boundary=XyZ"},
        b'--XyZ\r\nContent-Disposition: form-data; name="other"\r\n\r\nhello\r\n--XyZ--\r\n',
        400,
        "file",
    ),
    (
        "passthrough both forms",
        MULTICLASS,
        "?passthroughColumns=a&passthroughColumnsSet=all",
        {"Content-Type": "text/csv"},
        sample("iris_multiclass"),
        400,
        "cannot be used",
    ),
    (
        "passthrough set bad",
        MULTICLASS,
        "?passthroughColumnsSet=some",
        {"Content-Type": "text/csv"},
        sample("iris_multiclass"),
        400,
        "all",
    ),
    (
        "passthrough unknown",
        MULTICLASS,
        "?passthroughColumns=nope",
        {"Content-Type": "text/csv"},
        sample("iris_multiclass"),
        400,
        "nope",
    ),
    (
        "maxExplanations text",
        MULTICLASS,
        "?maxExplanations=lots",
        {"Content-Type": "text/csv"},
        sample("iris_multiclass"),
        400,
        "maxExplanations",
    ),
    (
        "maxExplanations > 0",
        MULTICLASS,
        "?maxExplanations=3",
        {"Content-Type": "text/csv"},
        sample("iris_multiclass"),
        400,
        "predictionExplanations",
    ),
    (
        "maxExplanations < 0",
        MULTICLASS,
        "?maxExplanations=-1",
        {"Content-Type": "text/csv"},
        sample("iris_multiclass"),
        400,
        "maxExplanations",
    ),
    (
        "forecastPoint on plain deployment",
        REGRESSION,
        "?forecastPoint=2020-01-01T00:00:00Z",
        {"Content-Type": "text/csv"},
        sample("diabetes_regression"),
        400,
        "time series",
    ),
    (
        "historical range on plain deployment",
        REGRESSION,
        "?predictionsStartDate=2020-01-01&predictionsEndDate=2020-02-01",
        {"Content-Type": "text/csv"},
        sample("diabetes_regression"),
        400,
        "predictionsStartDate",
    ),
    (
        "bad excludeAdjustedPredictions",
        REGRESSION,
        "?excludeAdjustedPredictions=maybe",
        {"Content-Type": "text/csv"},
        sample("diabetes_regression"),
        400,
        "excludeAdjustedPredictions",
    ),
]


@pytest.mark.parametrize(
    ("deployment", "query", "headers", "body", "status", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_table(client, deployment, query, headers, body, status, words):
    response = client.post(url(deployment) + query, content=body, headers={**AUTH, **headers})
    assert response.status_code == status, response.text
    message = response.json()["message"]
    assert words.lower() in message.lower()
    assert "Traceback" not in message
    # the process keeps serving
    ok = client.post(url(MULTICLASS), content=sample("iris_multiclass"), headers={**AUTH, "Content-Type": "text/csv"})
    assert ok.status_code == 200


def test_accepted_parameters_of_other_features(client):
    query = "?maxExplanations=0&excludeAdjustedPredictions=true&unknownParam=1"
    response = client.post(
        url(REGRESSION) + query, content=sample("diabetes_regression"), headers={**AUTH, "Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text


def test_unknown_url_answers_like_datarobot(client):
    response = client.post("/predApi/v1.0/deployments/65f1a0000000000000000001", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["message"].startswith("The requested URL was not found on the server.")


def test_wrong_method_is_405_with_message(client):
    response = client.get(url(REGRESSION), headers=AUTH)
    assert response.status_code == 405
    assert "message" in response.json()


def test_preflight_options_answers_cors(client):
    response = client.options(url(REGRESSION))
    assert response.status_code == 204
    assert response.headers["access-control-allow-methods"] == "OPTIONS, POST"
    assert "datarobot-key" in response.headers["access-control-allow-headers"]
