"""DataRobot's CSV response (``Accept: text/csv``), column names per its output format."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from drcompat.models.metadata import TargetType
from drcompat.result import PredictionResult


def prediction_columns(result: PredictionResult) -> pd.DataFrame:
    meta = result.metadata
    target = meta.target_name
    columns: dict[str, object] = {}
    if meta.target_type is TargetType.REGRESSION:
        columns[f"{target}_PREDICTION"] = result.values
    else:
        assert result.probabilities is not None and result.label_index is not None
        labels = np.array(meta.class_labels, dtype=object)
        for k in result.class_order():
            columns[f"{target}_{labels[k]}_PREDICTION"] = result.probabilities[:, k]
        columns[f"{target}_PREDICTION"] = labels[result.label_index]
        if meta.target_type is TargetType.BINARY:
            columns["THRESHOLD"] = result.threshold
            columns["POSITIVE_CLASS"] = meta.positive_class
    if result.humility is not None:
        prediction = f"{target}_PREDICTION"
        column = pd.Series(columns[prediction], dtype=object)
        for mask, value in reversed(result.humility.overrides()):
            column = column.where(~mask, value)
        columns[prediction] = column
        for j, rule in enumerate(result.humility.rules):
            columns[f"HUMILITY_{rule.id}_TRIGGERED"] = result.humility.triggered[:, j]
    if result.explanations is not None:
        columns.update(explanation_columns(result))
    columns.update(result.extra)
    return pd.DataFrame(columns, index=pd.RangeIndex(result.rows))


def explanation_columns(result: PredictionResult) -> dict[str, object]:
    """EXPLANATION_<n>_FEATURE_NAME / _STRENGTH / _ACTUAL_VALUE / _QUALITATIVE_STRENGTH, n from 1;
    empty for rows outside the thresholds."""
    explanations = result.explanations
    assert explanations is not None
    explained = explanations.explained
    names = np.array(explanations.feature_names, dtype=object)
    values = explanations.values.to_numpy(dtype=object)
    rows = np.arange(result.rows)
    qualitative = explanations.qualitative
    columns: dict[str, object] = {}
    for j in range(explanations.order.shape[1]):  # per explanation slot, not per row
        index = explanations.order[:, j]
        prefix = f"EXPLANATION_{j + 1}_"
        columns[prefix + "FEATURE_NAME"] = pd.Series(names[index]).where(explained)
        columns[prefix + "STRENGTH"] = pd.Series(explanations.strengths[:, j]).where(explained)
        columns[prefix + "ACTUAL_VALUE"] = pd.Series(values[rows, index], dtype=object).where(explained)
        columns[prefix + "QUALITATIVE_STRENGTH"] = pd.Series(qualitative[:, j]).where(explained)
    return columns


def time_series_columns(result: PredictionResult) -> pd.DataFrame:
    """DataRobot's time-series output columns: series id, FORECAST_POINT, the time column,
    FORECAST_DISTANCE (the series and time columns keep their uploaded names and values)."""
    forecast = result.time_series
    assert forecast is not None
    spec = result.metadata.raw["timeSeries"]
    columns: dict[str, object] = {}
    if spec.get("seriesIdColumn"):
        columns[spec["seriesIdColumn"]] = forecast.series
    columns["FORECAST_POINT"] = pd.DatetimeIndex(forecast.forecast_points).strftime("%Y-%m-%dT%H:%M:%SZ")
    columns[spec["datetimeColumn"]] = forecast.original
    columns["FORECAST_DISTANCE"] = forecast.distances
    return pd.DataFrame(columns, index=pd.RangeIndex(result.rows))


def csv_frame(result: PredictionResult) -> pd.DataFrame:
    """Passthrough columns first (as DataRobot's batch output), then the prediction columns."""
    frame = prediction_columns(result)
    if result.time_series is not None:
        frame = pd.concat([time_series_columns(result), frame], axis=1)
    if result.passthrough is not None:
        frame = pd.concat([result.passthrough.reset_index(drop=True), frame], axis=1)
    return frame


def encode_csv(result: PredictionResult) -> bytes:
    return csv_frame(result).to_csv(index=False, lineterminator="\n").encode("utf-8")


def iter_csv(result: PredictionResult, rows_per_piece: int) -> Iterator[bytes]:
    """The same bytes as ``encode_csv``, encoded ``rows_per_piece`` rows at a time, so a streaming
    door sends the first rows while the rest are still being written. The frame is built now
    (errors surface before the answer starts); only the text encoding is deferred."""
    frame = csv_frame(result)

    def pieces() -> Iterator[bytes]:
        for start in range(0, max(len(frame), 1), rows_per_piece):
            piece = frame.iloc[start : start + rows_per_piece]
            yield piece.to_csv(index=False, header=start == 0, lineterminator="\n").encode("utf-8")

    return pieces()
