"""The OpenAPI document says what the service answers; /docs works offline; 405 names Allow."""

from __future__ import annotations

import re

from conftest import AUTH, url


def test_openapi_lists_the_real_statuses_and_no_422(client):
    document = client.get("/openapi.json").json()
    assert "422" not in str(document["paths"])
    predictions = document["paths"]["/predApi/v1.0/deployments/{deployment_id}/predictions"]["post"]
    for status in ("200", "400", "401", "403", "404", "413", "414", "415", "480"):
        assert status in predictions["responses"], status
    assert predictions["responses"]["480"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert document["components"]["schemas"]["Error"]["required"] == ["message"]


def test_every_status_the_openapi_lists_for_predictions_is_reachable(client):
    """A few of them, produced for real: the document is not a wish list."""
    assert (
        client.post(url("65f1a0000000000000000003"), content=b"x", headers={"Content-Type": "text/csv"}).status_code
        == 401
    )
    assert (
        client.post(
            url("65f1a00000000000000000ff"), content=b"a\n1\n", headers={**AUTH, "Content-Type": "text/csv"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            url("65f1a0000000000000000003"), content=b"a\n1\n", headers={**AUTH, "Content-Type": "image/png"}
        ).status_code
        == 415
    )
    assert client.post(url("65f1a0000000000000000003") + "?x=" + "a" * 9000, content=b"").status_code == 414


def test_jobs_routes_have_body_schemas(client):
    paths = client.get("/openapi.json").json()["paths"]
    create = paths["/api/v2/customJobs/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create["required"] == ["name"] and create["properties"]["networkAccess"]["enum"] == ["public", "none"]
    items = paths["/api/v2/customJobs/{job_id}/items/"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert set(items["schema"]["properties"]) == {"file", "filePath", "archive"}
    runs = paths["/api/v2/customJobs/{job_id}/runs/"]["post"]["requestBody"]["content"]["application/json"]
    assert set(runs["schema"]["properties"]) == {"runtimeParameterValues", "deploymentId", "description"}
    multipart = paths["/api/v2/customJobs/"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"file", "filePath", "environmentId", "runtimeParameterValues"} <= set(multipart["properties"])
    schedules = paths["/api/v2/customJobs/{job_id}/schedules/"]["post"]["requestBody"]["content"]
    assert schedules["application/json"]["schema"]["required"] == ["schedule"]
    policy = paths["/api/v2/deployments/{deployment_id}/retrainingPolicies/"]["post"]["requestBody"]
    assert policy["content"]["application/json"]["schema"]["required"] == ["jobId", "schedule"]
    assert "requestBody" in paths["/api/v2/customJobs/{job_id}/"]["patch"]


def test_method_not_allowed_names_the_allowed_methods(client):
    response = client.get(url("65f1a0000000000000000003"))
    assert response.status_code == 405
    assert response.headers["Allow"] == "OPTIONS, POST"
    assert response.json() == {"message": "Method Not Allowed"}
    jobs = client.put("/api/v2/customJobs/")
    assert jobs.status_code == 405 and jobs.headers["Allow"] == "GET, HEAD, OPTIONS, POST"


def test_docs_load_their_assets_from_this_server(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert not re.search(r"(src|href)=\"https?://", page.text)  # nothing from a CDN
    assets = re.findall(r"(?:src|href)=\"(/docs/assets/[^\"]+)\"", page.text)
    assert {a.rsplit("/", 1)[1] for a in assets} == {"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"}
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 500, asset
    assert client.get("/redoc").status_code == 400  # ReDoc would load from a CDN: not served
