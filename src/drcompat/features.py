"""Check and coerce the request's columns to the types the model was trained on, vectorised.

Numeric features accept numbers and numeric strings; blanks and nulls are missing values (the
model's pipeline imputes them). Categorical features become strings; missing ones become ``""``,
which a one-hot encoder trained with ``handle_unknown="ignore"`` treats as an unseen category.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype, is_bool_dtype, is_float_dtype, is_numeric_dtype

from drcompat.errors import BadRequest
from drcompat.models.metadata import ModelMetadata

SCALAR_KINDS = {"string", "integer", "floating", "mixed-integer-float", "boolean", "empty", "decimal", "mixed-integer"}


def _first_bad(column: pd.Series, bad: pd.Series) -> str:
    position = int(np.flatnonzero(bad.to_numpy())[0])
    value = str(column.iloc[position])
    return f"row {position} has {value[:40]!r}"


def _numeric(name: str, column: pd.Series) -> np.ndarray:
    if is_numeric_dtype(column.dtype) and not is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    coerced = pd.to_numeric(column, errors="coerce")
    present = column.notna()
    if not is_bool_dtype(column.dtype):
        present &= column.astype("string").str.strip().ne("").fillna(False)
    bad = coerced.isna() & present
    if bool(bad.any()):
        raise BadRequest(f"Column {name!r} must be numeric: {_first_bad(column, bad)}.")
    return coerced.to_numpy(dtype=np.float64, na_value=np.nan)


def _categorical(name: str, column: pd.Series) -> np.ndarray:
    if column.dtype == object and infer_dtype(column, skipna=True) not in SCALAR_KINDS:
        bad = column.map(lambda v: isinstance(v, dict | list))  # error path only: find the culprit
        if bool(bad.any()):
            raise BadRequest(f"Column {name!r} must hold text values: {_first_bad(column, bad)}.")
    if is_float_dtype(column.dtype):
        finite = column.dropna()
        if bool((finite == np.floor(finite)).all()):
            huge = finite.abs() >= 2.0**63  # no category is spelled 1e19: a 400, not an int overflow
            if bool(huge.any()):
                raise BadRequest(
                    f"Column {name!r} must hold text values: {_first_bad(column, column.abs() >= 2.0**63)}."
                )
            column = column.astype("Int64")  # 1.0 -> "1", as the category was seen in training
    return column.astype("string").fillna("").to_numpy(dtype=object)


def feature_columns(frame: pd.DataFrame, metadata: ModelMetadata) -> dict[str, np.ndarray]:
    """The model's feature columns as numpy arrays; 400 naming any missing or mistyped column."""
    missing = [f.name for f in metadata.features if f.name not in frame.columns]
    if missing:
        raise BadRequest(f"Missing feature columns: {', '.join(missing)}.")
    return {
        f.name: _numeric(f.name, frame[f.name]) if f.type == "numeric" else _categorical(f.name, frame[f.name])
        for f in metadata.features
    }


def text_columns(metadata: ModelMetadata) -> list[str]:
    """Categorical columns, which the CSV parser keeps as text (so '007' stays '007')."""
    return [f.name for f in metadata.features if f.type == "categorical"]
