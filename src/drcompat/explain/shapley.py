"""Shapley values of one model output against a background sample, fully vectorised.

The game for row ``x`` is ``v(S) = mean over background rows b of f(x_S, b_rest)`` (interventional
Shapley values: features outside the coalition take the background row's values, as the model
would see them, categoricals and missing values included). Two estimators share one evaluation
path:

* ``exact`` (few features): every coalition is evaluated against every background row, and
  ``phi = v @ W`` with the Shapley weights ``|S|! (M-|S|-1)! / M!`` folded into a fixed matrix.
* ``sampled`` (more features): for every background row, ``pairs`` random feature orders and
  their reverses (antithetic sampling); walking an order from ``b`` to ``x`` gives one marginal
  contribution per feature. The estimate is the mean over the ``B * 2 * pairs`` walks, with its
  standard error ``sd / sqrt(walks)``. Each walk telescopes from ``f(b)`` to ``f(x)`` and every
  background row is walked equally often, so the strengths add up to ``f(x) - mean f(b)``
  exactly, and for a model additive in its features every walk gives ``w_i (x_i - b_i)``, so the
  estimate is exact there too.

Perturbed rows are built for all rows of a chunk at once (no loop over rows) and scored with one
``session.run`` per chunk; chunks are as large as ``max_batch`` allows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import factorial

import numpy as np

Columns = dict[str, np.ndarray]
Evaluate = Callable[[Columns, np.ndarray], np.ndarray]  # (perturbed columns, source row index) -> outputs

EXACT_MAX_FEATURES = 6


@dataclass(frozen=True)
class Plan:
    """Which coalitions to evaluate for every row: the same for all rows of a request."""

    method: str  # "exact" or "sampled"
    features: int
    masks: np.ndarray  # (walks, steps, M) bool: True takes the feature from the row, False from b
    background_index: np.ndarray  # (walks,) which background row each walk uses
    inverse_order: np.ndarray | None  # sampled: (walks, M) step at which each feature joins
    weights: np.ndarray | None  # exact: (2**M, M) Shapley weight matrix

    @property
    def evaluations_per_row(self) -> int:
        return int(self.masks.shape[0] * self.masks.shape[1])


def plan(features: int, background_rows: int, pairs: int = 2, seed: int = 0) -> Plan:
    if features <= EXACT_MAX_FEATURES:
        return _exact_plan(features, background_rows)
    return _sampled_plan(features, background_rows, pairs, seed)


def _exact_plan(m: int, b: int) -> Plan:
    codes = np.arange(2**m)
    coalitions = ((codes[:, None] >> np.arange(m)[None, :]) & 1).astype(bool)  # (2**M, M)
    sizes = coalitions.sum(axis=1)
    weights = np.zeros((2**m, m))
    shapley = np.array([factorial(s) * factorial(m - s - 1) / factorial(m) for s in range(m)])
    for i in range(m):  # per feature, not per row: builds a constant matrix once per plan
        without = ~coalitions[:, i]
        weights[without, i] -= shapley[sizes[without]]
        weights[codes[without] | (1 << i), i] += shapley[sizes[without]]
    inner = coalitions[1:-1]  # the empty and the full coalition are f(b) and f(x), known already
    masks = np.broadcast_to(inner, (b, *inner.shape))
    return Plan("exact", m, masks, np.arange(b), None, weights)


def _sampled_plan(m: int, b: int, pairs: int, seed: int) -> Plan:
    rng = np.random.default_rng(seed)
    orders = rng.permuted(np.tile(np.arange(m), (b * pairs, 1)), axis=1)
    orders = np.concatenate([orders, orders[:, ::-1]])  # antithetic: each order and its reverse
    inverse = np.argsort(orders, axis=1)  # inverse[w, i] = step at which feature i joins
    steps = np.arange(1, m)  # prefixes of length 1 .. M-1 (0 is f(b), M is f(x))
    masks = inverse[:, None, :] < steps[None, :, None]  # (walks, M-1, M)
    background = np.tile(np.arange(b), 2 * pairs)
    return Plan("sampled", m, masks, background, inverse, None)


@dataclass
class Attribution:
    strengths: np.ndarray  # (rows, M)
    base: np.ndarray  # (rows,) mean f(b) in the explained output
    standard_error: np.ndarray | None  # sampled only, (rows, M)


def perturbed_columns(plan_: Plan, rows: Columns, background: Columns, names: list[str]) -> Columns:
    """Columns of every perturbed row for a chunk: shape (rows * walks * steps,) each."""
    n = len(next(iter(rows.values())))
    out: Columns = {}
    for j, name in enumerate(names):  # per feature column, vectorised over rows, walks and steps
        take_row = plan_.masks[None, :, :, j]
        row_values = rows[name][:, None, None]
        background_values = background[name][plan_.background_index][None, :, None]
        column = np.where(take_row, row_values, background_values)
        out[name] = np.broadcast_to(column, (n, *plan_.masks.shape[:2])).reshape(-1)
    return out


def attribute(
    plan_: Plan,
    rows: Columns,
    background: Columns,
    names: list[str],
    f_rows: np.ndarray,
    f_background: np.ndarray,
    evaluate: Evaluate,
    max_batch: int = 400_000,
) -> Attribution:
    """Strengths for each row; ``f_background`` is (rows, B): the explained output of each b."""
    n = len(f_rows)
    per_row = plan_.evaluations_per_row
    chunk = max(1, max_batch // max(per_row, 1))
    values = np.empty((n, *plan_.masks.shape[:2]))
    for start in range(0, n, chunk):  # chunks bound memory: a handful of session.run calls
        stop = min(n, start + chunk)
        part = {k: v[start:stop] for k, v in rows.items()}
        source = np.repeat(np.arange(start, stop), per_row)
        values[start:stop] = evaluate(perturbed_columns(plan_, part, background, names), source).reshape(
            stop - start, *plan_.masks.shape[:2]
        )
    walk_base = f_background[:, plan_.background_index]  # (rows, walks)
    base = f_background.mean(axis=1)
    if plan_.method == "exact":
        v = np.concatenate([base[:, None], values.mean(axis=1), f_rows[:, None]], axis=1)  # (rows, 2**M)
        assert plan_.weights is not None
        return Attribution(v @ plan_.weights, base, None)
    prefixes = np.concatenate(
        [walk_base[:, :, None], values, np.broadcast_to(f_rows[:, None, None], (n, values.shape[1], 1))], axis=2
    )
    steps = np.diff(prefixes, axis=2)  # (rows, walks, M) contribution of the feature added at each step
    assert plan_.inverse_order is not None
    contributions = np.take_along_axis(steps, np.broadcast_to(plan_.inverse_order[None], steps.shape), axis=2)
    walks = contributions.shape[1]
    return Attribution(contributions.mean(axis=1), base, contributions.std(axis=1, ddof=1) / np.sqrt(walks))
