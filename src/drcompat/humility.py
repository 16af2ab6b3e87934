"""Humility rules: per-deployment checks on every prediction, evaluated over the whole batch.

Three triggers (DataRobot's humility settings):

* ``uncertainPrediction``: regression, the prediction outside ``[lower, upper]``; binary, the
  positive-class probability inside the uncertainty band ``[lower, upper]``.
* ``outlyingInput``: a numeric feature outside ``[lower, upper]``.
* ``lowObservationRegion``: a categorical feature's value outside ``allowedValues``.

and three actions: ``noOperation`` (report only), ``overridePrediction`` (replace ``prediction``
with ``value``; ``predictionValues`` keep the model's output) and ``throwError`` (the request is
answered 480). Bounds and allowed values left out are derived from the model's training
statistics: outlying input uses the 1st and 99th percentiles, low observation region the
categories seen in training, the binary band the threshold ± 0.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from drcompat.errors import ApiError
from drcompat.models.metadata import OBJECT_ID, ModelMetadata, TargetType

TRIGGERS = ("uncertainPrediction", "outlyingInput", "lowObservationRegion")
ACTIONS = ("noOperation", "overridePrediction", "throwError")
HUMILITY_ERROR = "Humility ReturnError action triggered."


class HumilityError(ApiError):
    status = 480


class RuleError(ValueError):
    """A rule in deployments.yaml is malformed; the message names it."""


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    trigger: str
    action: str
    feature: str | None = None
    lower: float | None = None
    upper: float | None = None
    allowed: tuple[str, ...] | None = None
    value: Any = None


def parse_rules(raw: Any, where: str) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise RuleError(f"{where}.humilityRules must be a list")
    rules = []
    for index, item in enumerate(raw):
        at = f"{where}.humilityRules[{index}]"
        if not isinstance(item, dict):
            raise RuleError(f"{at} must be a mapping")
        rule_id = str(item.get("id", ""))
        if not OBJECT_ID.match(rule_id):
            raise RuleError(f"{at}.id must be a 24-character hex ObjectId")
        trigger, action = item.get("trigger"), item.get("action")
        if trigger not in TRIGGERS:
            raise RuleError(f"{at}.trigger must be one of {', '.join(TRIGGERS)}")
        if action not in ACTIONS:
            raise RuleError(f"{at}.action must be one of {', '.join(ACTIONS)}")
        if action == "overridePrediction" and "value" not in item:
            raise RuleError(f"{at}: overridePrediction needs a value")
        feature = item.get("feature")
        if trigger != "uncertainPrediction" and not isinstance(feature, str):
            raise RuleError(f"{at}: {trigger} needs a feature")
        bounds = [item.get("lower"), item.get("upper")]
        for bound in bounds:
            if bound is not None and (not isinstance(bound, int | float) or isinstance(bound, bool)):
                raise RuleError(f"{at}: lower and upper must be numbers")
        allowed = item.get("allowedValues")
        if allowed is not None and not isinstance(allowed, list):
            raise RuleError(f"{at}.allowedValues must be a list")
        rules.append(
            Rule(
                id=rule_id,
                name=str(item.get("name") or default_rule_name(rule_id)),
                trigger=str(trigger),
                action=str(action),
                feature=feature,
                lower=None if bounds[0] is None else float(bounds[0]),
                upper=None if bounds[1] is None else float(bounds[1]),
                allowed=None if allowed is None else tuple(str(v) for v in allowed),
                value=item.get("value"),
            )
        )
    return tuple(rules)


def default_rule_name(rule_id: str) -> str:
    """DataRobot names an unnamed rule after a timestamp; ours is the rule's creation time, read
    from its ObjectId (the first 4 bytes are seconds since the epoch), so it never changes."""
    created = datetime.fromtimestamp(int(rule_id[:8], 16), tz=UTC)
    return f"Rule {created:%Y-%m-%d %H:%M:%S} UTC"


@dataclass
class HumilityResult:
    rules: tuple[Rule, ...]
    triggered: np.ndarray  # (rows, rules) bool

    def overrides(self) -> list[tuple[np.ndarray, Any]]:
        """(rows to override, value) in rule order; the first triggered override rule wins."""
        found = []
        for j, rule in enumerate(self.rules):
            if rule.action == "overridePrediction":
                found.append((self.triggered[:, j], rule.value))
        return found


def evaluate(
    rules: tuple[Rule, ...],
    metadata: ModelMetadata,
    columns: dict[str, np.ndarray],
    output: np.ndarray,
    threshold: float | None,
) -> HumilityResult:
    """Every rule over the batch at once; raises 480 when a throwError rule triggers."""
    triggered = np.zeros((len(output), len(rules)), dtype=bool)
    for j, rule in enumerate(rules):  # per rule, vectorised over rows
        triggered[:, j] = _trigger(rule, metadata, columns, output, threshold)
        if rule.action == "throwError" and bool(triggered[:, j].any()):
            raise HumilityError(HUMILITY_ERROR)
    return HumilityResult(rules, triggered)


def _trigger(
    rule: Rule, metadata: ModelMetadata, columns: dict[str, np.ndarray], output: np.ndarray, threshold: float | None
) -> np.ndarray:
    if rule.trigger == "uncertainPrediction":
        if metadata.target_type is TargetType.REGRESSION:
            lower = -np.inf if rule.lower is None else rule.lower
            upper = np.inf if rule.upper is None else rule.upper
            return (output < lower) | (output > upper)
        centre = 0.5 if threshold is None else threshold
        lower = centre - 0.1 if rule.lower is None else rule.lower
        upper = centre + 0.1 if rule.upper is None else rule.upper
        return (output >= lower) & (output <= upper)
    assert rule.feature is not None
    values = columns.get(rule.feature)
    if values is None:
        return np.zeros(len(output), dtype=bool)
    stats = metadata.training_stats.get(rule.feature, {})
    if rule.trigger == "outlyingInput":
        lower = rule.lower if rule.lower is not None else float(stats.get("q01", stats.get("min", -np.inf)))
        upper = rule.upper if rule.upper is not None else float(stats.get("q99", stats.get("max", np.inf)))
        numeric = values.astype(np.float64)
        return ~np.isnan(numeric) & ((numeric < lower) | (numeric > upper))
    allowed = rule.allowed if rule.allowed is not None else tuple(stats.get("values", {}))
    if values.dtype != object:
        return _outside(values, allowed)
    # Text columns: a set lookup per value (in C) settles the values sent as allowed (or missing);
    # only the others are compared as numpy compares them (str of the value, trailing NULs dropped).
    seen = {value for value in allowed if isinstance(value, str)} | {""}
    outside = ~np.fromiter(map(seen.__contains__, values), dtype=bool, count=len(values))
    if bool(outside.any()):
        outside[outside] = _outside(values[outside], allowed)
    return outside


def _outside(values: np.ndarray, allowed: tuple[str, ...]) -> np.ndarray:
    text = values.astype(str)
    return ~np.isin(text, np.array(allowed, dtype=str)) & (text != "")
