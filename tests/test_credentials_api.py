"""``/api/v2/credentials/`` through DataRobot's official client: create every kind, list, get,
update, delete; secrets stored (mode 600 locally, Secrets Manager in AWS), never answered; jobs
resolve a credential parameter by the id the API gave."""

from __future__ import annotations

import hashlib
import json

import datarobot as dr
import pytest
import requests
import yaml
from datarobot.errors import ClientError

from drcompat.jobs.credentials import LocalCredentialStore, SecretsManagerCredentialStore
from drcompat.jobs.metadata import parse_metadata
from drcompat.jobs.parameters import resolve
from drcompat.registry import update_registry
from drcompat.storage import LocalStorage

SECRETS = ["p@ss-w0rd-42", "AKIA-secret-key-77", "-----BEGIN PRIVATE KEY-----", "DefaultEndpointsProtocol=x", "tok-99"]
MANAGER = "manager-token-for-credentials-0001"
PREDICTOR = "predict-only-token-0002"
GCP_KEY = {"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}


@pytest.fixture
def tokens(bucket):
    def add(document: dict) -> None:
        document["tokens"]["creds-manager"] = {
            "sha256": hashlib.sha256(MANAGER.encode()).hexdigest(),
            "manageJobs": True,
        }
        document["tokens"]["creds-predictor"] = {"sha256": hashlib.sha256(PREDICTOR.encode()).hexdigest()}

    update_registry(LocalStorage(bucket), add)


@pytest.fixture
def dr_client(live_server, tokens):
    return dr.Client(endpoint=f"{live_server}/api/v2", token=MANAGER)


def test_every_kind_round_trips_without_its_secret(dr_client, settings):
    made = [
        dr.Credential.create_basic("warehouse", "ann", SECRETS[0], description="dwh"),
        dr.Credential.create_s3("bucket-reader", aws_access_key_id="AKIA1", aws_secret_access_key=SECRETS[1]),
        dr.Credential.create_gcp("gcs", gcp_key=GCP_KEY),
        dr.Credential.create_azure("blob", azure_connection_string=SECRETS[3]),
    ]
    raw = dr_client.post(
        "credentials/", data={"name": "service-api", "credentialType": "api_token", "apiToken": SECRETS[4]}
    )
    assert raw.status_code == 201
    assert {c.credential_type for c in made} == {"basic", "s3", "gcp", "azure"}
    assert len({c.credential_id for c in made}) == 4
    listed = dr.Credential.list()
    assert {c.name for c in listed} == {"warehouse", "bucket-reader", "gcs", "blob", "service-api"}
    answers = dr_client.get("credentials/").text + "".join(
        dr_client.get(f"credentials/{c.credential_id}/").text for c in made
    )
    for secret in SECRETS:
        assert secret not in answers
    assert dr.Credential.get(made[0].credential_id).description == "dwh"
    stored = yaml.safe_load(settings.credentials_file.read_text())
    assert stored["warehouse"]["password"] == SECRETS[0]
    assert oct(settings.credentials_file.stat().st_mode & 0o777) == "0o600"


def test_update_and_delete(dr_client):
    credential = dr.Credential.create_basic("old-name", "ann", "pw-1")
    credential.update(name="new-name", description="renamed", password="pw-2")
    fetched = dr.Credential.get(credential.credential_id)
    assert (fetched.name, fetched.description) == ("new-name", "renamed")
    fetched.delete()
    with pytest.raises(ClientError) as error:
        dr.Credential.get(credential.credential_id)
    assert error.value.status_code == 404


def test_a_job_parameter_takes_the_credential_by_id(dr_client, settings):
    credential = dr.Credential.create_basic("by-id", "ann", SECRETS[0])
    metadata = parse_metadata(
        "runtimeParameterDefinitions:\n- fieldName: db\n  type: credential\n  credentialType: basic\n"
    )
    store = LocalCredentialStore(settings.credentials_file)
    payload = resolve(metadata, {"db": credential.credential_id}, credentials=store)[0].payload
    assert payload["user"] == "ann"
    assert payload["password"] == SECRETS[0]


def test_bad_requests_are_clear_4xx(dr_client, live_server):
    for body, status, words in (
        ({"name": "x", "credentialType": "kerberos"}, 400, "credentialType must be one of"),
        ({"name": "x", "credentialType": "basic", "user": "u"}, 400, "needs password"),
        ({"credentialType": "basic", "user": "u", "password": "p"}, 400, "name"),
    ):
        answer = requests.post(
            f"{live_server}/api/v2/credentials/", json=body, headers={"Authorization": f"Bearer {MANAGER}"}, timeout=10
        )
        assert answer.status_code == status
        assert words in answer.json()["message"]
    dr.Credential.create_basic("twice", "u", "p")
    again = requests.post(
        f"{live_server}/api/v2/credentials/",
        json={"name": "twice", "credentialType": "basic", "user": "u", "password": "p"},
        headers={"Authorization": f"Bearer {MANAGER}"},
        timeout=10,
    )
    assert again.status_code == 409
    malformed = requests.post(
        f"{live_server}/api/v2/credentials/", data=b"{nope", headers={"Authorization": f"Bearer {MANAGER}"}, timeout=10
    )
    assert malformed.status_code == 400


def test_only_managing_tokens_may_touch_credentials(live_server, tokens):
    for token, status in ((PREDICTOR, 403), ("wrong", 401)):
        answer = requests.get(
            f"{live_server}/api/v2/credentials/", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert answer.status_code == status


def test_secrets_manager_store_behind_the_same_interface(s3_endpoint):
    store = SecretsManagerCredentialStore("drcompat-test/creds/", endpoint_url=s3_endpoint)
    record = store.create({"name": "sm-basic", "credentialType": "basic", "user": "ann", "password": SECRETS[0]})
    assert SECRETS[0] not in json.dumps(store.records())
    assert [r["credentialId"] for r in store.records()] == [record["credentialId"]]
    assert store.get(record["credentialId"])["password"] == SECRETS[0]
    assert store.get("sm-basic")["user"] == "ann"
    store.update(record["credentialId"], {"password": "rotated"})
    assert store.get("sm-basic")["password"] == "rotated"
    store.delete(record["credentialId"])
    assert store.records() == []
