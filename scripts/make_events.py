"""Write the API Gateway / EventBridge Scheduler events in ``events/`` (for ``sam local invoke -e``).

The REST API is configured with ``BinaryMediaTypes: */*``, so API Gateway hands every body to
Lambda base64-encoded, byte for byte; these events do the same. The other two front doors send
payload format 2.0 (``events/http-api/``, ``events/function-url/``): lower-case headers, the raw
query string, and text bodies (CSV, JSON) as plain strings while binary ones (gzip, multipart)
arrive base64-encoded. The tests replay every file.

    python scripts/make_events.py
"""

from __future__ import annotations

import base64
import bz2
import gzip
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
SAMPLES = ROOT / "layers" / "models" / "samples"
BINARY, REGRESSION, MULTICLASS = "65f1a0000000000000000001", "65f1a0000000000000000002", "65f1a0000000000000000003"
TIMESERIES = "65f1a0000000000000000004"
TOKEN = "Bearer demo-token-0123456789abcdef"  # noqa: S105 - the documented public demo token
BOUNDARY = "----drcompatFormBoundary7MA4YWxkTrZu0gW"


def api_event(
    deployment: str,
    body: bytes,
    content_type: str,
    route: str = "predictions",
    headers: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
) -> dict:
    all_headers = {
        "Accept": "application/json",
        "Authorization": TOKEN,
        "Content-Type": content_type,
        "Host": "abc123.execute-api.us-east-1.amazonaws.com",
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    resource = f"/predApi/v1.0/deployments/{{deploymentId}}/{route}"
    path = f"/predApi/v1.0/deployments/{deployment}/{route}"
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "POST",
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"deploymentId": deployment},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "POST",
            "path": "/prod" + path,
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "accountId": "123456789012",
            "apiId": "abc123",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "curl/8.5.0"},
            "requestTimeEpoch": 1764115200000,
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


V2_TEXT_TYPES = ("text/", "application/json")
HTTP_API_HOST = "abc123.execute-api.us-east-1.amazonaws.com"
FUNCTION_URL_HOST = "d2ekrkzg4kqwj6emunq5fvttm40ocyfs.lambda-url.us-east-1.on.aws"


def v2_event(
    door: str,
    deployment: str,
    body: bytes,
    content_type: str,
    route: str = "predictions",
    headers: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
) -> dict:
    """Payload format 2.0 as an HTTP API (``door="http-api"``, ``$default`` stage, so no stage
    segment in the path) or a Lambda function URL (``door="function-url"``) sends it."""
    host = HTTP_API_HOST if door == "http-api" else FUNCTION_URL_HOST
    all_headers = {
        "accept": "application/json",
        "authorization": TOKEN,
        "content-type": content_type,
        "content-length": str(len(body)),
        "host": host,
        "user-agent": "curl/8.5.0",
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **{k.lower(): v for k, v in (headers or {}).items()},
    }
    path = f"/predApi/v1.0/deployments/{deployment}/{route}"
    # Text bodies arrive as they are; anything else (gzip, bz2, multipart) base64-encoded.
    text = content_type.startswith(V2_TEXT_TYPES) and "content-encoding" not in all_headers
    route_key = "$default" if door == "function-url" else f"ANY /predApi/v1.0/deployments/{{deploymentId}}/{route}"
    event: dict = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": urlencode([(k, v) for k, values in (query or {}).items() for v in values]),
        "headers": all_headers,
        "requestContext": {
            "accountId": "anonymous" if door == "function-url" else "123456789012",
            "apiId": host.split(".")[0],
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": route_key,
            "stage": "$default",
            "time": "26/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1764115200000,
        },
        "body": body.decode() if text else base64.b64encode(body).decode(),
        "isBase64Encoded": not text,
    }
    if query:  # repeated parameters are comma-joined here; the app reads rawQueryString
        event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
    if door == "http-api":
        event["pathParameters"] = {"deploymentId": deployment}
        event["stageVariables"] = None
    return event


def door_events(door: str, binary_csv: bytes, regression_csv: bytes, iris_json: bytes) -> dict[str, dict]:
    """Every body form each door must answer: CSV (+ passthrough), JSON, text/plain, gzip,
    multipart, ``Accept: text/csv`` and an explanations request."""

    def event(*args: Any, **kwargs: Any) -> dict:
        return v2_event(door, *args, **kwargs)

    return {
        "predict-csv.json": event(BINARY, binary_csv, "text/csv", query={"passthroughColumns": ["age", "sex"]}),
        "predict-json.json": event(MULTICLASS, iris_json, "application/json"),
        "predict-text-plain.json": event(REGRESSION, regression_csv, "text/plain; charset=utf-8"),
        "predict-csv-gzip.json": event(
            BINARY, gzip.compress(binary_csv, mtime=0), "text/csv", headers={"Content-Encoding": "gzip"}
        ),
        "predict-multipart.json": event(
            BINARY, multipart("diabetes_binary.csv", binary_csv), f"multipart/form-data; boundary={BOUNDARY}"
        ),
        "predict-csv-accept-csv.json": event(REGRESSION, regression_csv, "text/csv", headers={"Accept": "text/csv"}),
        "explain-csv.json": event(
            BINARY, binary_csv, "text/csv", route="predictionExplanations", query={"maxExplanations": ["3"]}
        ),
    }


def jobs_api_event() -> dict:
    """GET /api/v2/customJobs/ routed to the job runner (the jobs API's API Gateway event)."""
    event = api_event(BINARY, b"", "application/json")
    path = "/api/v2/customJobs/"
    event.update(resource="/api/v2/{proxy+}", path=path, httpMethod="GET", body=None, isBase64Encoded=False)
    event["pathParameters"] = {"proxy": "customJobs/"}
    event["requestContext"].update(resourcePath="/api/v2/{proxy+}", httpMethod="GET", path="/prod" + path)
    return event


def management_event(method: str, path: str, resource: str, body: bytes | None = None) -> dict:
    """A management API request (DataRobot's /api/v2/ shapes) routed to the management function."""
    event = api_event(BINARY, body or b"", "application/json")
    event.update(resource=resource, path=path, httpMethod=method)
    if body is None:
        event.update(body=None, isBase64Encoded=False)
    event["pathParameters"] = {"deploymentId": path.split("/")[4]} if "{deploymentId}" in resource else None
    event["requestContext"].update(resourcePath=resource, httpMethod=method, path="/prod" + path)
    return event


def multipart(filename: str, payload: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def main() -> None:
    EVENTS.mkdir(exist_ok=True)
    binary_csv = (SAMPLES / "diabetes_binary.csv").read_bytes()
    regression_csv = (SAMPLES / "diabetes_regression.csv").read_bytes()
    iris_rows = [
        {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
        {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},
    ]
    events = {
        "predict-csv.json": api_event(BINARY, binary_csv, "text/csv", query={"passthroughColumns": ["age", "sex"]}),
        "predict-json.json": api_event(MULTICLASS, json.dumps(iris_rows).encode(), "application/json"),
        "predict-text-plain.json": api_event(REGRESSION, regression_csv, "text/plain; charset=utf-8"),
        "predict-csv-gzip.json": api_event(
            BINARY, gzip.compress(binary_csv, mtime=0), "text/csv", headers={"Content-Encoding": "gzip"}
        ),
        "predict-csv-bz2.json": api_event(
            REGRESSION, bz2.compress(regression_csv), "text/csv", headers={"Content-Encoding": "bz2"}
        ),
        "predict-multipart.json": api_event(
            BINARY, multipart("diabetes_binary.csv", binary_csv), f"multipart/form-data; boundary={BOUNDARY}"
        ),
        "predict-csv-accept-csv.json": api_event(
            REGRESSION, regression_csv, "text/csv", headers={"Accept": "text/csv"}
        ),
        "predict-timeseries.json": api_event(
            TIMESERIES, (SAMPLES / "daily_sales_timeseries.csv").read_bytes(), "text/csv"
        ),
        "explain-csv.json": api_event(
            BINARY, binary_csv, "text/csv", route="predictionExplanations", query={"maxExplanations": ["3"]}
        ),
        "jobrunner-schedule.json": {"source": "drcompat.schedule", "action": "run-due-policies"},
        "jobrunner-api-list-jobs.json": jobs_api_event(),
        "management-list-deployments.json": management_event("GET", "/api/v2/deployments/", "/api/v2/deployments"),
        "management-update-deployment.json": management_event(
            "PATCH",
            f"/api/v2/deployments/{REGRESSION}/",
            "/api/v2/deployments/{deploymentId}",
            json.dumps({"label": "Diabetes progression (ridge)"}).encode(),
        ),
    }
    iris_json = json.dumps(iris_rows).encode()
    for door in ("http-api", "function-url"):
        for name, event in door_events(door, binary_csv, regression_csv, iris_json).items():
            events[f"{door}/{name}"] = event
    for name, event in events.items():
        (EVENTS / name).parent.mkdir(exist_ok=True)
        (EVENTS / name).write_text(json.dumps(event, indent=2) + "\n")
    print(f"wrote {len(events)} events to {EVENTS.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
