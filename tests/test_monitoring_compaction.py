"""Compaction as the job runner's hourly schedule runs it (the Lambda event file), and what a
query reads afterwards: the same numbers, from one object per finished hour and kind."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import BINARY
from drcompat.monitoring import queries
from drcompat.monitoring.period import Period
from drcompat.monitoring.store import hour_of, write_part
from drcompat.storage import LocalStorage
from test_lambda_handler import EVENTS, context, load_handler
from test_monitoring import clean_bucket


def row(hour: datetime, requests: int, consumer: str) -> dict:
    return {"hour": hour.isoformat(), "modelId": "m", "requests": requests, "predictions": 2 * requests,
            "userErrors": 1, "consumers": [consumer], "features": {"age": [requests, 0, 1]}}  # fmt: skip


def test_jobrunner_compacts_finished_hours_and_queries_agree(tmp_path: Path, monkeypatch):
    bucket = clean_bucket(tmp_path)
    monkeypatch.setenv("DRC_STORAGE_ROOT", str(bucket))
    storage = LocalStorage(bucket)
    past = hour_of(datetime.now(UTC)) - timedelta(hours=2)
    for n, who in ((1, "a"), (2, "b"), (3, "a")):
        write_part(storage, BINARY, "aggregates", past, [row(past, n, who)])
    write_part(storage, BINARY, "associations", past, [{"t": past.timestamp(), "id": "x", "p": 0.5}])
    write_part(storage, BINARY, "associations", past, [{"t": past.timestamp(), "id": "y", "p": 0.7}])
    period = Period(past - timedelta(hours=1), past + timedelta(hours=2))

    def totals() -> dict:
        merged = queries.merged(queries.aggregate_rows(storage, BINARY, period))
        return {k: merged[k] for k in ("requests", "predictions", "userErrors", "consumers", "features")}

    before = totals()
    assert before == {"requests": 6, "predictions": 12, "userErrors": 3, "consumers": ["a", "b"],
                      "features": {"age": [6, 0, 3]}}  # fmt: skip

    jobrunner = load_handler("jobrunner")
    event = json.loads((EVENTS / "jobrunner-compact-monitoring.json").read_text())
    answer = jobrunner.handler(event, context())
    assert answer == {"status": 200, "action": "compact-monitoring", "parts": 5}
    hour_dir = bucket / "monitoring" / BINARY / "aggregates" / f"date={past:%Y-%m-%d}" / f"hour={past:%H}"
    compacted = [p for p in hour_dir.iterdir() if p.name.startswith("compacted-")]
    assert len(compacted) == 1 and len(compacted[0].read_text().splitlines()) == 2  # header + one row
    assert totals() == before
    assert jobrunner.handler(event, context())["parts"] == 0  # nothing new: nothing folded twice

    write_part(storage, BINARY, "aggregates", past, [row(past, 4, "c")])  # a late flush into that hour
    assert totals()["requests"] == 10
    assert jobrunner.handler(event, context())["parts"] == 1  # the new part, folded with the compacted file
    assert totals()["requests"] == 10 and totals()["consumers"] == ["a", "b", "c"]
    ids = {r["id"] for r in queries.read_rows(storage, BINARY, "associations", period.start, period.end)}
    assert ids == {"x", "y"}


def test_predict_lambda_captures_into_the_bucket(tmp_path: Path, monkeypatch):
    bucket = clean_bucket(tmp_path)
    monkeypatch.setenv("DRC_STORAGE_ROOT", str(bucket))
    monkeypatch.setenv("DRC_MONITORING_ENABLED", "true")
    predict = load_handler("predict")
    event = json.loads((EVENTS / "predict-csv.json").read_text())
    for _ in range(3):
        assert predict.handler(event, context())["statusCode"] == 200
    assert predict.app.state.service.sink.flush() >= 1
    deployment = event["pathParameters"]["deploymentId"]
    now = datetime.now(UTC)
    period = Period(now - timedelta(hours=1), now + timedelta(hours=1))
    merged = queries.merged(queries.aggregate_rows(LocalStorage(bucket), deployment, period))
    assert merged["requests"] == 3 and merged["predictions"] == 60 and merged["cacheHits"] == 3
    assert sum(merged["features"]["bmi"]) == 60 and sum(merged["predictionHist"]) == 60
