"""One rule for infinities, in every format: they are refused, never scored or answered.

An ``inf`` or ``-inf`` cell in a numeric feature (CSV ``inf``, a JSON string ``"-Infinity"``,
a number too large for a double) is a 400 naming the column and row: a model's behaviour on
infinities is undefined (scalers give NaN, trees pick a side). A prediction the model returns as
non-finite is refused the same way, naming the rows, so JSON (which has no infinity) and CSV never
disagree about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from drcompat.errors import BadRequest

if TYPE_CHECKING:
    import pandas as pd

SHOWN_ROWS = 5


def _rows(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(r) for r in rows[:SHOWN_ROWS])
    return shown + (f" and {len(rows) - SHOWN_ROWS} more" if len(rows) > SHOWN_ROWS else "")


def check_finite_inputs(columns: dict[str, np.ndarray]) -> None:
    """400 for the first numeric feature holding an infinity (rows counted from 0, as rowId)."""
    for name, values in columns.items():
        if values.dtype.kind == "f":
            infinite = np.isinf(values)
            if bool(infinite.any()):
                raise BadRequest(
                    f"Column {name!r} has an infinite value in row {_rows(infinite)}: send a finite "
                    "number, or leave the cell empty for a missing value."
                )


def check_finite_frame(frame: pd.DataFrame) -> None:
    """The same rule over a frame's numeric columns (time series, whose features are derived)."""
    numeric = frame.select_dtypes(include="number")
    check_finite_inputs({str(name): numeric[name].to_numpy(dtype=np.float64) for name in numeric.columns})


def _non_finite_rows(array: np.ndarray) -> np.ndarray:
    finite = np.isfinite(np.asarray(array, dtype=np.float64)).reshape(len(array), -1)
    return np.asarray(~finite.all(axis=1))


def check_finite_outputs(values: np.ndarray | None, probabilities: np.ndarray | None) -> None:
    """400 naming the rows for which the model returned NaN or an infinity."""
    for output in (values, probabilities):
        if output is not None:
            bad = _non_finite_rows(output)
            if bool(bad.any()):
                raise BadRequest(f"The model returned a non-finite prediction (NaN or infinity) for row {_rows(bad)}.")
