"""Query parameters of the predictions route, validated as DataRobot validates them.

Parameters that belong to features a deployment does not have (time series on a plain
deployment, explanations on the predictions route) are answered with a 400 that says why,
never ignored silently and never a 500.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drcompat.errors import BadRequest

TIME_SERIES_PARAMS = ("forecastPoint", "predictionsStartDate", "predictionsEndDate", "relaxKnownInAdvanceFeaturesCheck")
BOOLEAN_TEXT = {"true": True, "false": False, "1": True, "0": False}

# name -> (schema type, description); also the OpenAPI document's parameter list.
PREDICTION_PARAMETERS: dict[str, tuple[str, str]] = {
    "passthroughColumns": ("array", "Input column to copy into each row's passthroughValues; repeat for several."),
    "passthroughColumnsSet": ("string", "'all' copies every input column. Not together with passthroughColumns."),
    "maxExplanations": ("integer", "Only 0 here; explanations are served by .../predictionExplanations."),
    "excludeAdjustedPredictions": (
        "boolean",
        "Default true. false adds adjustedPrediction and adjustedPredictionValues on models built with exposure.",
    ),
    **{name: ("string", "Time-series deployments only.") for name in TIME_SERIES_PARAMS},
}


EXPLANATION_PARAMETERS: dict[str, tuple[str, str]] = {
    "passthroughColumns": PREDICTION_PARAMETERS["passthroughColumns"],
    "passthroughColumnsSet": PREDICTION_PARAMETERS["passthroughColumnsSet"],
    "maxExplanations": ("integer", "Explanations per row, strongest first (default 3; 0 means none)."),
    "maxCodes": ("integer", "Another name of maxExplanations (what the batch-scoring client sends)."),
    "thresholdLow": ("number", "Explain rows whose prediction is at or below this (may be null)."),
    "thresholdHigh": ("number", "Explain rows whose prediction is at or above this (may be null)."),
    "excludeAdjustedPredictions": PREDICTION_PARAMETERS["excludeAdjustedPredictions"],
}
DEFAULT_MAX_EXPLANATIONS = 3


@dataclass(frozen=True)
class PredictionParams:
    passthrough_columns: tuple[str, ...] = ()
    passthrough_all: bool = False
    exclude_adjusted: bool = True  # excludeAdjustedPredictions (the seed's default: true)


@dataclass(frozen=True)
class ExplanationParams(PredictionParams):
    max_explanations: int = DEFAULT_MAX_EXPLANATIONS
    threshold_low: float | None = None
    threshold_high: float | None = None


def _single(query: list[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in query if k == name]
    if len(values) > 1:
        raise BadRequest(f"Query parameter {name!r} was given more than once.")
    return values[0] if values else None


def parse_boolean(name: str, value: str) -> bool:
    try:
        return BOOLEAN_TEXT[value.strip().lower()]
    except KeyError as exc:
        raise BadRequest(f"Query parameter {name!r} must be true or false, not {value[:40]!r}.") from exc


def _passthrough(query: list[tuple[str, str]]) -> PredictionParams:
    columns = tuple(v for k, v in query if k == "passthroughColumns")
    column_set = _single(query, "passthroughColumnsSet")
    if columns and column_set is not None:
        raise BadRequest("passthroughColumns and passthroughColumnsSet cannot be used in the same request.")
    if column_set is not None and column_set != "all":
        raise BadRequest(f"passthroughColumnsSet must be 'all', not {column_set[:40]!r}.")
    if any(not c for c in columns):
        raise BadRequest("passthroughColumns must name a column.")
    return PredictionParams(passthrough_columns=columns, passthrough_all=column_set == "all")


def _max_explanations(query: list[tuple[str, str]]) -> int | None:
    value = _single(query, "maxExplanations")
    alias = _single(query, "maxCodes")  # DataRobot's batch-scoring client sends this name
    if value is not None and alias is not None and value != alias:
        raise BadRequest("maxExplanations and maxCodes name the same setting; give one of them.")
    value = value if value is not None else alias
    if value is None:
        return None
    try:
        count = int(value)
    except ValueError as exc:
        raise BadRequest(f"maxExplanations must be an integer, not {value[:40]!r}.") from exc
    if count < 0:
        raise BadRequest("maxExplanations must be 0 or more.")
    return count


def _threshold(query: list[tuple[str, str]], name: str) -> float | None:
    value = _single(query, name)
    if value is None or value.strip().lower() in ("", "null", "none"):
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise BadRequest(f"{name} must be a number or null, not {value[:40]!r}.") from exc
    if not math.isfinite(number):
        raise BadRequest(f"{name} must be a finite number or null.")
    return number


def _common(query: list[tuple[str, str]], time_series: bool) -> bool:
    """Checks shared by both routes; returns excludeAdjustedPredictions."""
    exclude = _single(query, "excludeAdjustedPredictions")
    if not time_series:
        given = [name for name in TIME_SERIES_PARAMS if any(k == name for k, _ in query)]
        if given:
            raise BadRequest(f"{', '.join(given)} can only be used with a time series deployment.")
    return True if exclude is None else parse_boolean("excludeAdjustedPredictions", exclude)


def parse_prediction_params(query: list[tuple[str, str]], time_series: bool = False) -> PredictionParams:
    params = _passthrough(query)
    count = _max_explanations(query)
    if count:
        raise BadRequest("maxExplanations > 0 is served by the predictionExplanations route of this deployment.")
    exclude = _common(query, time_series)
    return PredictionParams(params.passthrough_columns, params.passthrough_all, exclude_adjusted=exclude)


def parse_explanation_params(query: list[tuple[str, str]], time_series: bool = False) -> ExplanationParams:
    passthrough = _passthrough(query)
    count = _max_explanations(query)
    exclude = _common(query, time_series)
    return ExplanationParams(
        passthrough_columns=passthrough.passthrough_columns,
        passthrough_all=passthrough.passthrough_all,
        exclude_adjusted=exclude,
        max_explanations=DEFAULT_MAX_EXPLANATIONS if count is None else count,
        threshold_low=_threshold(query, "thresholdLow"),
        threshold_high=_threshold(query, "thresholdHigh"),
    )
