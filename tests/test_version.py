"""``GET /api/v2/version/`` as DataRobot's official client reads it when it connects."""

from __future__ import annotations

import warnings

import datarobot as dr
import pytest
from datarobot.errors import ClientError

from conftest import AUTH, TOKEN


def test_official_client_connects(live_server):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = dr.Client(endpoint=f"{live_server}/api/v2", token=TOKEN)
    # an incompatible, older or missing server version warns with "version" in the text
    assert not [w for w in caught if "version" in str(w.message).lower()]
    assert client.get("version/").json()["versionString"] == "2.49.0"


def test_official_client_reports_a_bad_token(live_server):
    with pytest.raises(ClientError) as error:
        dr.Client(endpoint=f"{live_server}/api/v2", token="not-a-token")
    assert error.value.status_code == 401


def test_version_needs_a_token(client):
    assert client.get("/api/v2/version/").status_code == 401
    answer = client.get("/api/v2/version/", headers=AUTH)
    assert answer.status_code == 200
    assert answer.json()["major"] == 2
