"""Over a real socket: uvicorn serving the app, spoken to with plain HTTP/1.1 and keep-alive."""

from __future__ import annotations

import gzip
import http.client
import json

import pytest

from conftest import BINARY, MULTICLASS, TOKEN, sample, url


@pytest.fixture
def server(live_server):
    return int(live_server.rsplit(":", 1)[1])


def test_keep_alive_connection_serves_many_requests(server):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/csv"}
    hits = []
    for _ in range(3):
        connection.request("POST", url(MULTICLASS), body=sample("iris_multiclass"), headers=headers)
        response = connection.getresponse()
        body = json.loads(response.read())
        assert response.status == 200
        assert len(body["data"]) == 20
        hits.append(response.getheader("X-DataRobot-Model-Cache-Hit"))
    assert hits == ["false", "true", "true"]
    connection.close()


def test_gzip_multipart_and_errors_over_the_wire(server):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    boundary = "drcompat-boundary"
    csv = sample("diabetes_binary")
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n".encode()
        + csv
        + f"\r\n--{boundary}--\r\n".encode()
    )
    connection.request(
        "POST",
        url(BINARY),
        body=gzip.compress(multipart),
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Encoding": "gzip",
        },
    )
    response = connection.getresponse()
    assert response.status == 200
    assert len(json.loads(response.read())["data"]) == 20
    connection.request(
        "POST",
        url(BINARY),
        body=b"garbage,,\n\x00",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/csv"},
    )
    response = connection.getresponse()
    assert response.status == 400
    assert "message" in json.loads(response.read())
    connection.close()


def test_long_request_line_over_the_wire_is_414(server):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    connection.request(
        "POST",
        url(MULTICLASS) + "?passthroughColumns=" + "x" * 9000,
        body=b"",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    response = connection.getresponse()
    assert response.status == 414
    assert "8192" in json.loads(response.read())["message"]
