"""Authorization: the three header forms, hashed scoped tokens, datarobot-key, and the order of checks."""

from __future__ import annotations

import base64
import hashlib

import yaml

from conftest import AUTH, BINARY, REGRESSION, TOKEN, sample, url

CSV = {"Content-Type": "text/csv"}


def post(client, headers, deployment=REGRESSION):
    return client.post(url(deployment), content=sample("diabetes_regression"), headers={**CSV, **headers})


def add_token(bucket, name, secret, deployments):
    path = bucket / "deployments.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["tokens"][name] = {"sha256": hashlib.sha256(secret.encode()).hexdigest()}
    for dep in deployments:
        doc["deployments"][dep]["tokens"].append(name)
    path.write_text(yaml.safe_dump(doc))


def test_bearer_token_form(client):
    assert post(client, {"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_deprecated_token_form(client):
    assert post(client, {"Authorization": f"Token {TOKEN}"}).status_code == 200


def test_deprecated_basic_form_with_user_and_token(client):
    credentials = base64.b64encode(f"someone@example.com:{TOKEN}".encode()).decode()
    assert post(client, {"Authorization": f"Basic {credentials}"}).status_code == 200


def test_missing_credentials_is_401(client):
    response = post(client, {})
    assert response.status_code == 401
    assert "credentials" in response.json()["message"].lower()


def test_wrong_token_is_401_and_not_echoed(client):
    response = post(client, {"Authorization": "Bearer not-the-token-secret-xyz"})
    assert response.status_code == 401
    assert "not-the-token-secret-xyz" not in response.text


def test_malformed_headers_are_401(client):
    for header in ["Bearer", "Digest abc", "Basic !!!notbase64", "Basic " + base64.b64encode(b"nocolon").decode()]:
        response = post(client, {"Authorization": header})
        assert response.status_code == 401, header
        assert "message" in response.json()


def test_token_scoped_to_other_deployment_is_403(client, bucket):
    add_token(bucket, "binary-only", "binary-only-secret-0001", [BINARY])
    response = post(client, {"Authorization": "Bearer binary-only-secret-0001"})
    assert response.status_code == 403
    assert REGRESSION in response.json()["message"]
    ok = client.post(
        url(BINARY),
        content=sample("diabetes_binary"),
        headers={**CSV, "Authorization": "Bearer binary-only-secret-0001"},
    )
    assert ok.status_code == 200


def test_unknown_deployment_is_404(client):
    response = post(client, AUTH, deployment="65f1a00000000000000000ff")
    assert response.status_code == 404
    assert "65f1a00000000000000000ff" in response.json()["message"]


def test_unauthenticated_probe_of_unknown_deployment_is_401_not_404(client):
    assert post(client, {}, deployment="65f1a00000000000000000ff").status_code == 401


def test_datarobot_key_checked_when_deployment_sets_one(client, bucket):
    path = bucket / "deployments.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["deployments"][REGRESSION]["datarobotKeySha256"] = hashlib.sha256(b"org-key-123").hexdigest()
    path.write_text(yaml.safe_dump(doc))
    assert post(client, AUTH).status_code == 401
    assert post(client, {**AUTH, "datarobot-key": "wrong"}).status_code == 401
    assert post(client, {**AUTH, "datarobot-key": "org-key-123"}).status_code == 200
    # deployments without a key do not need one
    binary = client.post(url(BINARY), content=sample("diabetes_binary"), headers={**CSV, **AUTH})
    assert binary.status_code == 200


def test_tokens_are_stored_hashed_only(bucket):
    text = (bucket / "deployments.yaml").read_text()
    assert TOKEN not in text
    assert hashlib.sha256(TOKEN.encode()).hexdigest() in text
