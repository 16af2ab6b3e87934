"""Query parameters of the predictions route, validated as DataRobot validates them.

Parameters that belong to features a deployment does not have (time series on a plain
deployment, explanations on the predictions route) are answered with a 400 that says why,
never ignored silently and never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass

from drcompat.errors import BadRequest

TIME_SERIES_PARAMS = ("forecastPoint", "predictionsStartDate", "predictionsEndDate", "relaxKnownInAdvanceFeaturesCheck")
BOOLEAN_TEXT = {"true": True, "false": False, "1": True, "0": False}

# name -> (schema type, description); also the OpenAPI document's parameter list.
PREDICTION_PARAMETERS: dict[str, tuple[str, str]] = {
    "passthroughColumns": ("array", "Input column to copy into each row's passthroughValues; repeat for several."),
    "passthroughColumnsSet": ("string", "'all' copies every input column. Not together with passthroughColumns."),
    "maxExplanations": ("integer", "Only 0 here; explanations are served by .../predictionExplanations."),
    "excludeAdjustedPredictions": ("boolean", "Accepted for compatibility (no model here uses exposure)."),
    **{name: ("string", "Time-series deployments only.") for name in TIME_SERIES_PARAMS},
}


@dataclass(frozen=True)
class PredictionParams:
    passthrough_columns: tuple[str, ...] = ()
    passthrough_all: bool = False


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


def parse_prediction_params(query: list[tuple[str, str]], time_series: bool = False) -> PredictionParams:
    columns = tuple(v for k, v in query if k == "passthroughColumns")
    column_set = _single(query, "passthroughColumnsSet")
    if columns and column_set is not None:
        raise BadRequest("passthroughColumns and passthroughColumnsSet cannot be used in the same request.")
    if column_set is not None and column_set != "all":
        raise BadRequest(f"passthroughColumnsSet must be 'all', not {column_set[:40]!r}.")
    if any(not c for c in columns):
        raise BadRequest("passthroughColumns must name a column.")
    max_explanations = _single(query, "maxExplanations")
    if max_explanations is not None:
        try:
            count = int(max_explanations)
        except ValueError as exc:
            raise BadRequest(f"maxExplanations must be an integer, not {max_explanations[:40]!r}.") from exc
        if count < 0:
            raise BadRequest("maxExplanations must be 0 or more.")
        if count > 0:
            raise BadRequest("maxExplanations > 0 is served by the predictionExplanations route of this deployment.")
    exclude = _single(query, "excludeAdjustedPredictions")
    if exclude is not None:
        parse_boolean("excludeAdjustedPredictions", exclude)
    if not time_series:
        given = [name for name in TIME_SERIES_PARAMS if any(k == name for k, _ in query)]
        if given:
            raise BadRequest(f"{', '.join(given)} can only be used with a time series deployment.")
    return PredictionParams(passthrough_columns=columns, passthrough_all=column_set == "all")
