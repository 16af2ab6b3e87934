"""The shared pagination helper, as the official client's ``unpaginate`` walks it."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from drcompat.api.app import json_error
from drcompat.api.pagination import paginate
from drcompat.errors import ApiError


def make_client() -> TestClient:
    app = FastAPI()

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return json_error(exc.status, exc.message)

    @app.get("/things/")
    async def things(request: Request):
        return paginate(request, [{"id": i} for i in range(25)], default_limit=10)

    return TestClient(app)


def test_walking_next_yields_every_item_once():
    client = make_client()
    seen, page = [], client.get("/things/").json()
    assert page["previous"] is None and page["totalCount"] == 25
    while True:
        seen += [item["id"] for item in page["data"]]
        assert page["count"] == len(page["data"])
        if page["next"] is None:
            break
        page = client.get(page["next"]).json()
    assert seen == list(range(25))
    assert page["previous"] is not None


def test_bad_offset_or_limit_is_a_400():
    client = make_client()
    for query in ("offset=-1", "limit=abc", "limit=100000"):
        answer = client.get(f"/things/?{query}")
        assert answer.status_code == 400
        assert "message" in answer.json()
