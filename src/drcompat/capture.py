"""What the prediction path hands to monitoring, behind a small sink interface.

The prediction path only knows this protocol; ``drcompat.monitoring`` implements it (imports
point down: monitoring imports the prediction path, never the reverse). A sink must return at
once and never raise into a prediction: it keeps references and does its work elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from drcompat.models.metadata import ModelMetadata
from drcompat.observe import RequestRecord


@dataclass(frozen=True)
class ScoredBatch:
    deployment_id: str
    metadata: ModelMetadata
    columns: dict[str, np.ndarray]  # the model's inputs as scored
    values: np.ndarray | None  # regression predictions
    probabilities: np.ndarray | None  # classification, classLabels order
    label_index: np.ndarray | None
    association_ids: Any  # the association id column (sequence) or None
    at: float  # epoch seconds


class CaptureSink(Protocol):
    def scored(self, batch: ScoredBatch) -> None:
        """A batch was scored (called before the answer is encoded)."""

    def finished(self, record: RequestRecord, consumer: str | None, execution_ms: float | None) -> None:
        """A request was answered (any status), with the token name that made it."""
