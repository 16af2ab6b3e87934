"""Time-series deployments: forecast-point and historical requests, features derived server-side.

A time-series model's ``model.yaml`` has a ``timeSeries`` section (datetime column and format,
series id column, target, time step, feature derivation window in rows, forecast window, known-in-
advance columns) and lists its derived features by name:

* ``lag_<k>``: the target ``k - 1`` steps before the forecast point (``lag_1`` is at the point);
* ``mean_<k>``, ``std_<k>``, ``min_<k>``, ``max_<k>``: over the last ``k`` rows up to the point;
* ``dow_sin``, ``dow_cos``: the day of week of the predicted date, on the unit circle;
* ``known_<column>``: a known-in-advance column's value on the predicted date;
* ``forecast_distance``: steps from the forecast point to the predicted date.

Each request's history is pivoted into one (series x window) array and every forecast row's
features are computed with numpy over all series at once (a direct multi-horizon model: one
model, the forecast distance among its inputs). Forecast rows left out are generated when the
time step is regular (auto-expansion).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from drcompat.errors import BadRequest
from drcompat.params import parse_boolean

UNITS = {"second": "s", "minute": "min", "hour": "h", "day": "D", "week": "W"}
# Timestamps are computed in datetime64[ns]: 1677-09-22 .. 2262-04-11 is what it can hold.
EARLIEST = pd.Timestamp("1677-09-22")
LATEST = pd.Timestamp("2262-04-11")
SPAN = f"between {EARLIEST.date()} and {LATEST.date()}"
STAT = re.compile(r"^(lag|mean|std|min|max)_(\d+)$")


class TimeSeriesError(BadRequest):
    """The request cannot be forecast; the message says why (and names the series)."""


@dataclass(frozen=True)
class TimeSeriesSpec:
    datetime_column: str
    datetime_format: str
    series_column: str | None
    target: str
    step: pd.Timedelta
    window: int  # feature derivation window, in rows up to and including the forecast point
    forecast_start: int
    forecast_end: int
    known_in_advance: tuple[str, ...]

    @classmethod
    def from_metadata(cls, doc: dict[str, Any], target: str) -> TimeSeriesSpec:
        step = doc.get("timeStep") or {}
        unit = UNITS.get(str(step.get("unit", "day")))
        if unit is None:
            raise ValueError("timeSeries.timeStep.unit must be second, minute, hour, day or week")
        window = doc.get("featureDerivationWindow")
        forecast = doc.get("forecastWindow")
        if not (isinstance(window, int) and window >= 1):
            raise ValueError("timeSeries.featureDerivationWindow must be a number of rows (>= 1)")
        if not (isinstance(forecast, list) and len(forecast) == 2 and 1 <= forecast[0] <= forecast[1]):
            raise ValueError("timeSeries.forecastWindow must be [start, end] distances, 1 <= start <= end")
        return cls(
            datetime_column=str(doc["datetimeColumn"]),
            datetime_format=str(doc.get("datetimeFormat", "%Y-%m-%d")),
            series_column=doc.get("seriesIdColumn"),
            target=target,
            step=pd.Timedelta(f"{int(step.get('count', 1))}{unit}"),
            window=window,
            forecast_start=int(forecast[0]),
            forecast_end=int(forecast[1]),
            known_in_advance=tuple(doc.get("knownInAdvance") or ()),
        )

    @property
    def distances(self) -> np.ndarray:
        return np.arange(self.forecast_start, self.forecast_end + 1)


@dataclass(frozen=True)
class TimeSeriesParams:
    forecast_point: pd.Timestamp | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    relax_known_in_advance: bool = False

    @property
    def historical(self) -> bool:
        return self.start is not None


def _date(name: str, value: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"{name} must be an ISO 8601 date or datetime, not {value[:40]!r}.") from exc
    if stamp is pd.NaT:
        raise BadRequest(f"{name} must be an ISO 8601 date or datetime, not {value[:40]!r}.")
    stamp = stamp.tz_convert(None) if stamp.tzinfo is not None else stamp
    if not EARLIEST <= stamp <= LATEST:
        raise BadRequest(f"{name} must be {SPAN}, not {value[:40]!r}.")
    return stamp.as_unit("ns")


def parse_time_series_params(query: list[tuple[str, str]]) -> TimeSeriesParams:
    def single(name: str) -> str | None:
        values = [v for k, v in query if k == name]
        if len(values) > 1:
            raise BadRequest(f"Query parameter {name!r} was given more than once.")
        return values[0] if values else None

    point, start, end = single("forecastPoint"), single("predictionsStartDate"), single("predictionsEndDate")
    relax = single("relaxKnownInAdvanceFeaturesCheck")
    if point is not None and (start is not None or end is not None):
        raise BadRequest("forecastPoint cannot be combined with predictionsStartDate/predictionsEndDate.")
    if (start is None) != (end is None):
        raise BadRequest("predictionsStartDate and predictionsEndDate must be given together.")
    params = TimeSeriesParams(
        forecast_point=_date("forecastPoint", point) if point is not None else None,
        start=_date("predictionsStartDate", start) if start is not None else None,
        end=_date("predictionsEndDate", end) if end is not None else None,
        relax_known_in_advance=parse_boolean("relaxKnownInAdvanceFeaturesCheck", relax) if relax else False,
    )
    if params.start is not None and params.end is not None and params.start > params.end:
        raise BadRequest("predictionsStartDate must not be after predictionsEndDate.")
    return params


@dataclass
class Forecast:
    """Forecast rows in columnar form, plus the model inputs derived for them."""

    features: dict[str, np.ndarray]
    series: np.ndarray  # original series id values (object)
    forecast_points: np.ndarray  # datetime64
    timestamps: np.ndarray  # datetime64 of the predicted rows
    original: np.ndarray  # the timestamp as uploaded (or formatted, for generated rows)
    distances: np.ndarray  # int
    row_ids: np.ndarray  # input row index; generated rows continue after the input


def derive(
    names: list[str],
    history: np.ndarray,
    target_dates: np.ndarray,
    distances: np.ndarray,
    known: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Model inputs for forecast rows. ``history``: (rows, window) target values ending at each
    row's forecast point (oldest first)."""
    out: dict[str, np.ndarray] = {}
    dow = pd.DatetimeIndex(target_dates).day_of_week.to_numpy()
    for name in names:  # per derived feature, vectorised over rows
        stat = STAT.match(name)
        if stat:
            kind, k = stat.group(1), int(stat.group(2))
            if k > history.shape[1]:
                raise ValueError(f"{name} needs more history than the feature derivation window")
            recent = history[:, -k:]
            out[name] = {
                "lag": lambda r: r[:, 0],
                "mean": lambda r: r.mean(axis=1),
                "std": lambda r: r.std(axis=1),
                "min": lambda r: r.min(axis=1),
                "max": lambda r: r.max(axis=1),
            }[kind](recent)
        elif name == "dow_sin":
            out[name] = np.sin(2 * math.pi * dow / 7)
        elif name == "dow_cos":
            out[name] = np.cos(2 * math.pi * dow / 7)
        elif name == "forecast_distance":
            out[name] = distances.astype(np.float64)
        elif name.startswith("known_"):
            out[name] = known[name[len("known_") :]].astype(np.float64)
        else:
            raise ValueError(f"unknown derived feature {name!r}")
    return out


class TimeSeriesRequest:
    """One request's rows, parsed and pivoted per series."""

    def __init__(self, frame: pd.DataFrame, spec: TimeSeriesSpec) -> None:
        self.spec = spec
        missing = [
            c
            for c in (spec.datetime_column, spec.series_column, spec.target, *spec.known_in_advance)
            if c and c not in frame.columns
        ]
        if missing:
            raise TimeSeriesError(f"Missing columns for this time series deployment: {', '.join(missing)}.")
        raw_dates = frame[spec.datetime_column]
        dates = pd.to_datetime(raw_dates.astype("string"), format=spec.datetime_format, errors="coerce")
        bad = dates.isna() & raw_dates.notna()
        if bool(bad.any()) or bool(raw_dates.isna().any()):
            position = int(np.flatnonzero((bad | raw_dates.isna()).to_numpy())[0])
            raise TimeSeriesError(
                f"Column {spec.datetime_column!r} must match the format {spec.datetime_format!r}: "
                f"row {position} has {str(raw_dates.iloc[position])[:40]!r}."
            )
        outside = ((dates < EARLIEST) | (dates > LATEST)).to_numpy()
        if bool(outside.any()):
            position = int(np.flatnonzero(outside)[0])
            raise TimeSeriesError(
                f"Column {spec.datetime_column!r} must hold dates {SPAN}: "
                f"row {position} has {str(raw_dates.iloc[position])[:40]!r}."
            )
        dates = dates.astype("datetime64[ns]")
        target = pd.to_numeric(frame[spec.target], errors="coerce")
        if bool(
            (target.isna() & frame[spec.target].notna() & frame[spec.target].astype("string").str.strip().ne("")).any()
        ):
            raise TimeSeriesError(f"Column {spec.target!r} must be numeric (or empty on forecast rows).")
        series = frame[spec.series_column] if spec.series_column else pd.Series(0, index=frame.index)
        if bool(series.isna().any()):
            raise TimeSeriesError(f"Column {spec.series_column!r} must be set on every row.")
        self.rows = pd.DataFrame(
            {
                "series": series.to_numpy(dtype=object),
                "key": series.astype(str).to_numpy(),
                "date": dates.to_numpy(),
                "original": raw_dates.astype(str).to_numpy(),
                "target": target.to_numpy(),
                "row": np.arange(len(frame)),
                **{f"known_{c}": pd.to_numeric(frame[c], errors="coerce").to_numpy() for c in spec.known_in_advance},
            }
        )
        if bool(self.rows.duplicated(["key", "date"]).any()):
            duplicate = self.rows.loc[self.rows.duplicated(["key", "date"]), "key"].iloc[0]
            raise TimeSeriesError(f"Series {duplicate!r} has two rows for the same timestamp.")
        self.series_order = np.asarray(pd.unique(self.rows["key"]), dtype=object)
        first = self.rows.drop_duplicates("key").set_index("key")["series"]
        self.series_values = first.reindex(self.series_order).to_numpy(dtype=object)
        self.history = self.rows.pivot(index="key", columns="date", values="target").reindex(self.series_order)

    def window_history(self, points: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """(rows, window) history ending at each forecast point, or a 400 naming the series."""
        spec = self.spec
        offsets = spec.step.to_timedelta64() * np.arange(spec.window - 1, -1, -1)
        wanted = points.astype("datetime64[ns]")[:, None] - offsets[None, :]
        dates = self.history.columns
        positions = dates.get_indexer(pd.DatetimeIndex(wanted.ravel())).reshape(wanted.shape)
        rows = self.history.index.get_indexer(pd.Index(keys))
        values = np.where(positions >= 0, self.history.to_numpy()[rows[:, None], np.maximum(positions, 0)], np.nan)
        incomplete = np.isnan(values).any(axis=1)
        if bool(incomplete.any()):
            index = int(np.flatnonzero(incomplete)[0])
            have = int((~np.isnan(values[index])).sum())
            raise TimeSeriesError(
                f"Series {keys[index]!r} needs {spec.window} rows of history with target values up to "
                f"{pd.Timestamp(points[index]).isoformat()} (the feature derivation window); it has {have}."
            )
        return values


def plan_forecast(frame: pd.DataFrame, spec: TimeSeriesSpec, params: TimeSeriesParams, names: list[str]) -> Forecast:
    request = TimeSeriesRequest(frame, spec)
    rows = request.rows
    if params.historical:
        return _historical(request, params, names)
    known_rows = rows[~np.isnan(rows["target"].to_numpy())]
    if known_rows.empty:
        raise TimeSeriesError(f"No row has a value for {spec.target!r}: the history is empty.")
    point = params.forecast_point if params.forecast_point is not None else pd.Timestamp(known_rows["date"].max())
    _check_span(point, spec)
    keys = np.repeat(request.series_order, len(spec.distances))
    distances = np.tile(spec.distances, len(request.series_order))
    points = np.full(len(keys), np.datetime64(point, "ns"))
    target_dates = (pd.DatetimeIndex(points) + spec.step * distances).to_numpy()
    history = request.window_history(points, keys)
    lookup = rows.set_index(["key", "date"])
    index = pd.MultiIndex.from_arrays([keys, pd.DatetimeIndex(target_dates)])
    position = lookup.index.get_indexer(index)
    present = position >= 0
    if not bool(present.all()):
        _check_regular(request, spec)
    row_ids = np.where(present, lookup["row"].to_numpy()[np.maximum(position, 0)], 0)
    generated = ~present
    row_ids[generated] = len(frame) + np.arange(int(generated.sum()))
    original = np.where(
        present,
        lookup["original"].to_numpy()[np.maximum(position, 0)],
        pd.DatetimeIndex(target_dates).strftime(spec.datetime_format).to_numpy(),
    )
    known = {}
    for column in spec.known_in_advance:
        values = np.where(present, lookup[f"known_{column}"].to_numpy()[np.maximum(position, 0)], np.nan)
        missing = np.isnan(values)
        if bool(missing.any()):
            if not params.relax_known_in_advance:
                first = int(np.flatnonzero(missing)[0])
                raise TimeSeriesError(
                    f"Known-in-advance column {column!r} is missing on {pd.Timestamp(target_dates[first]).date()} "
                    f"for series {keys[first]!r}; send the forecast rows with it, or set "
                    "relaxKnownInAdvanceFeaturesCheck=true."
                )
            values = np.where(missing, 0.0, values)
        known[column] = values
    series_values = request.series_values[request.history.index.get_indexer(pd.Index(keys))]
    return Forecast(
        features=derive(names, history, target_dates, distances, known),
        series=series_values,
        forecast_points=points,
        timestamps=target_dates,
        original=original.astype(object),
        distances=distances,
        row_ids=row_ids,
    )


def _check_span(point: pd.Timestamp, spec: TimeSeriesSpec, back: int = 0, ahead: int = 0) -> None:
    """The history window and the forecast window around a point must stay in the datetime range
    (``back`` steps more history, ``ahead`` steps fewer forecast, for historical rows)."""
    step = spec.step.to_pytimedelta()  # Python datetimes: this check itself cannot overflow
    moment = point.to_pydatetime()
    try:
        inside = (
            moment - step * (spec.window - 1 + back) >= EARLIEST.to_pydatetime()
            and moment + step * (spec.forecast_end + ahead) <= LATEST.to_pydatetime()
        )
    except OverflowError:
        inside = False
    if not inside:
        raise TimeSeriesError(
            f"Forecasting from {point.isoformat()} needs timestamps outside the supported range "
            f"(history and forecast window): timestamps must be {SPAN}."
        )


def _check_regular(request: TimeSeriesRequest, spec: TimeSeriesSpec) -> None:
    gaps = request.rows.sort_values(["key", "date"]).groupby("key")["date"].diff().dropna()
    if not bool((gaps == spec.step).all()):
        raise TimeSeriesError(
            "Forecast rows are missing and the history's time step is irregular, so they cannot be generated; "
            "send the forecast rows."
        )


def _historical(request: TimeSeriesRequest, params: TimeSeriesParams, names: list[str]) -> Forecast:
    spec = request.spec
    rows = request.rows
    assert params.start is not None and params.end is not None
    chosen = rows[(rows["date"] >= params.start) & (rows["date"] <= params.end)]
    if chosen.empty:
        raise TimeSeriesError("No row falls between predictionsStartDate and predictionsEndDate.")
    chosen = chosen.iloc[
        np.lexsort((chosen["date"].to_numpy(), pd.Categorical(chosen["key"], request.series_order).codes))
    ]
    count = len(spec.distances)
    keys = np.repeat(chosen["key"].to_numpy(), count)
    target_dates = np.repeat(chosen["date"].to_numpy(), count)
    distances = np.tile(spec.distances, len(chosen))
    _check_span(pd.Timestamp(chosen["date"].min()), spec, back=spec.forecast_end, ahead=-spec.forecast_end)
    points = (pd.DatetimeIndex(target_dates) - spec.step * distances).to_numpy()
    history = request.window_history(points, keys)
    known = {c: np.nan_to_num(np.repeat(chosen[f"known_{c}"].to_numpy(), count)) for c in spec.known_in_advance}
    return Forecast(
        features=derive(names, history, target_dates, distances, known),
        series=request.series_values[request.history.index.get_indexer(pd.Index(keys))],
        forecast_points=points,
        timestamps=target_dates,
        original=np.repeat(chosen["original"].to_numpy(), count).astype(object),
        distances=distances,
        row_ids=np.repeat(chosen["row"].to_numpy(), count),
    )
