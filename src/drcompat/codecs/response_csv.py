"""DataRobot's CSV response (``Accept: text/csv``), column names per its output format."""

from __future__ import annotations

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
    columns.update(result.extra)
    return pd.DataFrame(columns, index=pd.RangeIndex(result.rows))


def encode_csv(result: PredictionResult) -> bytes:
    """Passthrough columns first (as DataRobot's batch output), then the prediction columns."""
    frame = prediction_columns(result)
    if result.passthrough is not None:
        frame = pd.concat([result.passthrough.reset_index(drop=True), frame], axis=1)
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
