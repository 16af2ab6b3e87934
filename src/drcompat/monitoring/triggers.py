"""Monitoring triggers for retraining policies: retrain on data drift or on accuracy decline.

A policy may carry ``trigger``:

    {"type": "dataDrift", "threshold": 0.15, "metric": "psi", "minImpact": 0.0, "minSamples": 100}
    {"type": "accuracyDecline", "metric": "LogLoss", "threshold": 0.1, "minSamples": 50}

The scheduled runner evaluates it whenever it looks for due policies. Only data since the
policy's last run (at most ``lookbackHours``, default 24) counts, so one drift episode starts one
retraining, not one per tick. Accuracy decline is relative to the model's holdout score in
``model.yaml`` (or the trigger's ``baseline``): ``threshold`` 0.1 means 10% worse.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from drcompat.deployments import DeploymentRegistry
from drcompat.errors import BadRequest
from drcompat.models import ModelStore
from drcompat.monitoring import accuracy as acc
from drcompat.monitoring import queries
from drcompat.monitoring.drift import METRICS
from drcompat.monitoring.period import Period
from drcompat.storage import Storage

log = logging.getLogger(__name__)
TYPES = ("dataDrift", "accuracyDecline")
LOWER_IS_BETTER = {"LogLoss", "RMSE", "MAE", "MAPE", "RMSLE", "Gamma Deviance", "Poisson Deviance"}


def validate_trigger(trigger: Any) -> dict[str, Any] | None:
    """The trigger as stored, or 400 naming the bad field."""
    if trigger is None:
        return None
    if not isinstance(trigger, dict) or trigger.get("type") not in TYPES:
        raise BadRequest(f"trigger.type must be one of {', '.join(TYPES)}.")
    for key in ("threshold", "minImpact", "minSamples", "lookbackHours", "baseline"):
        value = trigger.get(key)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool) or value < 0):
            raise BadRequest(f"trigger.{key} must be a number of 0 or more.")
    if trigger["type"] == "dataDrift" and trigger.get("metric", "psi") not in METRICS:
        raise BadRequest(f"trigger.metric must be one of {', '.join(METRICS)}.")
    return dict(trigger)


def _since(policy: dict[str, Any], trigger: dict[str, Any], now: datetime) -> datetime:
    marks = [now - timedelta(hours=float(trigger.get("lookbackHours", 24)))]
    for key in ("lastRunAt", "created"):
        if policy.get(key):
            moment = datetime.fromisoformat(str(policy[key]))
            marks.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
            break
    return max(marks)


def trigger_reason(storage: Storage, policy: dict[str, Any], now: datetime | None = None) -> str | None:
    """Why the policy's monitoring trigger fires now, or None (also when anything is missing)."""
    trigger = policy.get("trigger")
    if not isinstance(trigger, dict) or not policy.get("enabled", True):
        return None
    now = now or datetime.now(UTC)
    try:
        deployment = DeploymentRegistry(storage, 0).snapshot().deployments.get(policy["deploymentId"])
        if deployment is None:
            return None
        meta = ModelStore(storage).metadata(deployment.model_id)
        period = Period(_since(policy, trigger, now), now)
        if trigger.get("type") == "dataDrift":
            return _drift(storage, deployment.id, meta, period, trigger)
        if trigger.get("type") == "accuracyDecline":
            return _decline(storage, deployment.id, meta, period, trigger, deployment.prediction_threshold)
    except Exception as exc:  # a trigger that cannot be evaluated never fires (and never breaks the runner)
        log.warning("retraining trigger of policy %s not evaluated: %s", policy.get("id"), type(exc).__name__)
    return None


def _drift(storage: Storage, deployment_id: str, meta: Any, period: Period, trigger: dict[str, Any]) -> str | None:
    since = period.start.timestamp()  # rows hold an hour: keep those with records after the last run
    rows = [r for r in queries.aggregate_rows(storage, deployment_id, period) if r.get("last", 0) > since]
    row = queries.merged(rows, meta.model_id)
    threshold = float(trigger.get("threshold", 0.15))
    drifted = [
        d
        for d in queries.feature_drift(row, meta, str(trigger.get("metric", "psi")))
        if d.score is not None
        and d.sample_size >= int(trigger.get("minSamples", 100))
        and (d.impact or 0.0) >= float(trigger.get("minImpact", 0.0))
        and d.score >= threshold
    ]
    if not drifted:
        return None
    names = ", ".join(f"{d.name} {d.score:.3f}" for d in drifted[:5])
    return f"data drift at or above {threshold}: {names}"


def _decline(
    storage: Storage, deployment_id: str, meta: Any, period: Period, trigger: dict[str, Any], threshold: float | None
) -> str | None:
    metric = str(trigger.get("metric") or acc.DEFAULT[meta.target_type])
    pairs = [p for p in queries.matched(storage, deployment_id, period) if p.get("modelId") == meta.model_id]
    values, count = queries.accuracy_metrics(pairs, meta, threshold)
    value = values.get(metric)
    baseline = trigger.get("baseline", queries.holdout_baseline(meta).get(metric))
    if value is None or baseline is None or count < int(trigger.get("minSamples", 50)):
        return None
    allowed = float(trigger.get("threshold", 0.1))
    worse = value > baseline * (1 + allowed) if metric in LOWER_IS_BETTER else value < baseline * (1 - allowed)
    return f"{metric} {value:.4f} against baseline {baseline:.4f} over {count} actuals" if worse else None
