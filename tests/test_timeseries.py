"""Time-series deployments through the HTTP API: forecast point, auto-expansion, historical
predictions, every parameter and combination, and the errors that say why."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from conftest import AUTH, DEMO_BUCKET, sample

TS = "65f1a0000000000000000004"
CSV = {**AUTH, "Content-Type": "text/csv"}
DATA = pd.read_csv(DEMO_BUCKET / "datasets" / "daily_sales.csv")


def ts_url(query: str = "") -> str:
    return f"/predApi/v1.0/deployments/{TS}/predictions{query}"


def window(end: str, days: int, forecast_days: int = 0) -> pd.DataFrame:
    """History ending at ``end`` plus ``forecast_days`` rows after it with the target blanked."""
    dates = pd.to_datetime(DATA["date"])
    stop = pd.Timestamp(end)
    frame = DATA[(dates > stop - pd.Timedelta(days=days)) & (dates <= stop + pd.Timedelta(days=forecast_days))].copy()
    frame.loc[pd.to_datetime(frame["date"]) > stop, "sales"] = np.nan
    return frame.reset_index(drop=True)


def post(client, frame_or_bytes, query="", headers=None):
    body = frame_or_bytes if isinstance(frame_or_bytes, bytes) else frame_or_bytes.to_csv(index=False).encode()
    return client.post(ts_url(query), content=body, headers={**CSV, **(headers or {})})


def test_forecast_point_inferred_from_the_last_target(client):
    body = sample("daily_sales_timeseries")
    response = post(client, body)
    assert response.status_code == 200, response.text
    rows = response.json()["data"]
    frame = pd.read_csv(io.BytesIO(body))
    assert len(rows) == 3 * 7
    assert {r["forecastPoint"] for r in rows} == {"2025-12-24T00:00:00Z"}
    assert [r["forecastDistance"] for r in rows[:7]] == list(range(1, 8))
    assert [r["seriesId"] for r in rows[::7]] == ["store_a", "store_b", "store_c"]
    for row in rows:
        source = frame.iloc[row["rowId"]]  # forecast rows keep their input row index
        assert source["store"] == row["seriesId"] and source["date"] == row["originalFormatTimestamp"]
        assert row["timestamp"] == source["date"] + "T00:00:00.000000Z"
        assert row["predictionValues"] == [{"label": "sales", "value": row["prediction"]}]
    actual = DATA.set_index(["store", "date"])["sales"]
    errors = [
        abs(r["prediction"] - actual[(r["seriesId"], r["originalFormatTimestamp"])])
        / actual[(r["seriesId"], r["originalFormatTimestamp"])]
        for r in rows
    ]
    assert np.mean(errors) < 0.1  # the demo model forecasts the synthetic data well


def test_explicit_forecast_point_uses_history_up_to_it(client):
    frame = window("2025-12-20", 40, 0)  # every row has its target: the point decides
    response = post(client, frame, "?forecastPoint=2025-12-13T00:00:00Z")
    assert response.status_code == 200, response.text
    rows = response.json()["data"]
    assert {r["forecastPoint"] for r in rows} == {"2025-12-13T00:00:00Z"}
    assert sorted({r["originalFormatTimestamp"] for r in rows}) == [f"2025-12-{d}" for d in range(14, 21)]


def test_auto_expansion_needs_known_in_advance_or_relax(client):
    history = window("2025-12-24", 28)
    refused = post(client, history)
    assert refused.status_code == 400
    message = refused.json()["message"]
    assert "holiday" in message and "relaxKnownInAdvanceFeaturesCheck" in message
    relaxed = post(client, history, "?relaxKnownInAdvanceFeaturesCheck=true")
    assert relaxed.status_code == 200, relaxed.text
    rows = relaxed.json()["data"]
    assert len(rows) == 21
    assert sorted(r["rowId"] for r in rows) == list(range(len(history), len(history) + 21))  # generated rows
    assert rows[0]["originalFormatTimestamp"] == "2025-12-25"


def test_historical_predictions_for_a_date_range(client):
    frame = window("2025-12-31", 60)
    response = post(client, frame, "?predictionsStartDate=2025-12-28&predictionsEndDate=2025-12-31")
    assert response.status_code == 200, response.text
    rows = response.json()["data"]
    assert len(rows) == 3 * 4 * 7  # series x dates x forecast distances
    for row in rows:
        point = pd.Timestamp(row["forecastPoint"]).tz_convert(None)
        stamp = pd.Timestamp(row["timestamp"]).tz_convert(None)
        assert (stamp - point).days == row["forecastDistance"]
        assert frame.iloc[row["rowId"]]["date"] == row["originalFormatTimestamp"]


def test_one_batch_for_all_series(client, monkeypatch):
    from drcompat.models.onnx_model import OnnxModel

    calls = []
    original = OnnxModel.run

    def counting(self, feeds):
        calls.append(len(next(iter(feeds.values()))))
        return original(self, feeds)

    monkeypatch.setattr(OnnxModel, "run", counting)
    assert post(client, sample("daily_sales_timeseries")).status_code == 200
    assert calls[-1:] == [21]


def test_csv_answer(client):
    text = post(client, sample("daily_sales_timeseries"), headers={"Accept": "text/csv"}).text
    frame = pd.read_csv(io.StringIO(text))
    assert list(frame.columns) == ["store", "FORECAST_POINT", "date", "FORECAST_DISTANCE", "sales_PREDICTION"]
    assert len(frame) == 21 and set(frame["FORECAST_POINT"]) == {"2025-12-24T00:00:00Z"}


@pytest.mark.parametrize(
    ("query", "words"),
    [
        (
            "?forecastPoint=2025-12-20&predictionsStartDate=2025-12-01&predictionsEndDate=2025-12-02",
            "cannot be combined",
        ),
        ("?predictionsStartDate=2025-12-01", "together"),
        ("?predictionsEndDate=2025-12-01", "together"),
        ("?forecastPoint=yesterday", "forecastPoint must be an ISO 8601"),
        ("?predictionsStartDate=2025-12-05&predictionsEndDate=2025-12-01", "must not be after"),
        ("?relaxKnownInAdvanceFeaturesCheck=sometimes", "relaxKnownInAdvanceFeaturesCheck"),
        ("?forecastPoint=2025-12-01", "needs 28 rows of history"),
        ("?predictionsStartDate=2024-01-01&predictionsEndDate=2024-01-05", "No row falls between"),
        ("?passthroughColumns=store", "not supported for time series"),
    ],
)
def test_invalid_parameters_say_why(client, query, words):
    response = post(client, sample("daily_sales_timeseries"), query)
    assert response.status_code == 400
    assert words in response.json()["message"]


def test_bad_data_says_why(client):
    frame = pd.read_csv(io.BytesIO(sample("daily_sales_timeseries")))
    short = frame[~((frame["store"] == "store_b") & (frame["date"] < "2025-12-01"))]
    response = post(client, short)
    assert response.status_code == 400 and "store_b" in response.json()["message"]
    bad_date = frame.copy()
    bad_date.loc[3, "date"] = "24/12/2025"
    response = post(client, bad_date)
    assert (
        response.status_code == 400
        and "row 3" in response.json()["message"]
        and "%Y-%m-%d" in response.json()["message"]
    )
    response = post(client, frame.drop(columns=["holiday"]))
    assert response.status_code == 400 and "holiday" in response.json()["message"]
    duplicated = pd.concat([frame, frame.iloc[[0]]])
    response = post(client, duplicated)
    assert response.status_code == 400 and "two rows for the same timestamp" in response.json()["message"]
    gappy = window("2025-12-24", 40).iloc[::2]  # every other day: irregular for generation
    response = post(client, gappy, "?relaxKnownInAdvanceFeaturesCheck=true")
    assert response.status_code == 400


def test_explanations_are_refused_for_time_series(client):
    response = client.post(
        f"/predApi/v1.0/deployments/{TS}/predictionExplanations", content=sample("daily_sales_timeseries"), headers=CSV
    )
    assert response.status_code == 400 and "time series" in response.json()["message"]


def test_humility_rules_apply_to_forecasts(client, bucket):
    import yaml

    path = bucket / "deployments.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["deployments"][TS]["humilityRules"] = [
        {
            "id": "65f1c00000000000000000f1",
            "name": "cap",
            "trigger": "uncertainPrediction",
            "upper": 300,
            "action": "overridePrediction",
            "value": 300,
        }
    ]
    path.write_text(yaml.safe_dump(doc))
    rows = post(client, sample("daily_sales_timeseries")).json()["data"]
    assert max(r["prediction"] for r in rows) == 300
    assert any(r["predictionValues"][0]["value"] > 300 for r in rows)
    assert all(r["humility"][0]["triggered"] == (r["predictionValues"][0]["value"] > 300) for r in rows)
