"""What a model version carries besides its graph: training statistics and the explanation
background. The demo build script and model import compute them here, the same way."""

from __future__ import annotations

from typing import Any

import pandas as pd

BACKGROUND_ROWS = 32  # the explanation background: see README "Prediction explanations"
SEED = 20240702


def training_stats(frame: pd.DataFrame, features: list[dict[str, str]]) -> dict[str, Any]:
    """Per-feature statistics that humility defaults and explanations use later."""
    stats: dict[str, Any] = {}
    for feature in features:
        column = frame[feature["name"]]
        if feature["type"] == "numeric":
            stats[feature["name"]] = {
                "min": float(column.min()),
                "max": float(column.max()),
                "mean": float(column.mean()),
                "std": float(column.std()),
                "q01": float(column.quantile(0.01)),
                "q99": float(column.quantile(0.99)),
                "missing": int(column.isna().sum()),
            }
        else:
            counts = column.value_counts(normalize=True)
            stats[feature["name"]] = {
                "values": {str(k): round(float(v), 6) for k, v in counts.items()},
                "missing": int(column.isna().sum()),
            }
    return stats


def background_sample(frame: pd.DataFrame, rows: int = BACKGROUND_ROWS, seed: int = SEED) -> pd.DataFrame:
    """A fixed-seed sample of the training rows (all of them when there are fewer)."""
    return frame.sample(rows, random_state=seed) if len(frame) > rows else frame
