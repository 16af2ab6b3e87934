"""Distance between a period's distribution and the training baseline, per DataRobot's metrics.

Both sides are turned into proportions over the same bins; empty bins get a small floor so that
logarithms stay finite (PSI and KL would be infinite for a bin that only one side fills).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METRICS = ("psi", "kl_divergence", "dissimilarity", "hellinger", "js_divergence")
FLOOR = 1e-4


def _proportions(counts: Sequence[float]) -> np.ndarray | None:
    array = np.asarray(counts, dtype=np.float64)
    total = array.sum()
    if total <= 0:
        return None
    return array / total


def drift_score(actual: Sequence[float], baseline: Sequence[float], metric: str = "psi") -> float | None:
    """The drift of ``actual`` (counts per bin) from ``baseline``; None without data on either side."""
    p, q = _proportions(actual), _proportions(baseline)
    if p is None or q is None or len(p) != len(q):
        return None
    if metric == "dissimilarity":
        return float(0.5 * np.abs(p - q).sum())
    if metric == "hellinger":
        return float(np.sqrt(0.5 * ((np.sqrt(p) - np.sqrt(q)) ** 2).sum()))
    pf, qf = np.maximum(p, FLOOR), np.maximum(q, FLOOR)
    if metric == "psi":
        return float(((pf - qf) * np.log(pf / qf)).sum())
    if metric == "kl_divergence":
        return float((pf * np.log(pf / qf)).sum())
    if metric == "js_divergence":
        m = 0.5 * (pf + qf)
        return float(0.5 * (pf * np.log(pf / m)).sum() + 0.5 * (qf * np.log(qf / m)).sum())
    raise ValueError(f"unknown drift metric {metric!r}")
