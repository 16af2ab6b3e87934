"""A scored batch in columnar form: what both response encoders (JSON, CSV) read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from drcompat.models.metadata import ModelMetadata, TargetType

if TYPE_CHECKING:
    import pandas as pd

    from drcompat.explain.service import Explanations
    from drcompat.humility import HumilityResult
    from drcompat.timeseries import Forecast


@dataclass
class PredictionResult:
    metadata: ModelMetadata
    rows: int
    values: np.ndarray | None = None  # regression predictions
    probabilities: np.ndarray | None = None  # (rows, classes) in classLabels order
    label_index: np.ndarray | None = None  # predicted class per row, index into classLabels
    threshold: float | None = None  # binary only
    passthrough: pd.DataFrame | None = None
    passthrough_tokens: np.ndarray | None = None  # one JSON object per row, values as sent
    adjusted: np.ndarray | None = None  # exposure-adjusted predictions, when asked for
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    explanations: Explanations | None = None  # predictionExplanations route only
    humility: HumilityResult | None = None  # deployments with humility rules
    time_series: Forecast | None = None  # time-series deployments: what each row forecasts
    original_format_timestamp: bool = False  # the deployment's originalFormatTimestamp setting

    def row_ids(self) -> np.ndarray:
        return self.time_series.row_ids if self.time_series is not None else np.arange(self.rows)

    @property
    def target_type(self) -> TargetType:
        return self.metadata.target_type

    def class_order(self) -> list[int]:
        """Column order of predictionValues: DataRobot lists the positive class first for binary."""
        labels = self.metadata.class_labels
        if self.target_type is TargetType.BINARY:
            positive = labels.index(self.metadata.positive_class)
            return [positive, 1 - positive]
        return list(range(len(labels)))
