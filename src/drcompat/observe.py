"""What a finished request reports to whoever watches (Powertools metrics in Lambda, nothing locally).

The core stays free of any metrics library: adapters pass an ``Observer`` callable to the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestRecord:
    route: str  # "predictions" or "predictionExplanations"
    deployment_id: str
    status: int
    rows: int
    model_id: str | None
    cache_hit: bool | None
    elapsed_ms: float


Observer = Callable[[RequestRecord], None]
