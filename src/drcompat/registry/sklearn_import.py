"""A fitted scikit-learn pipeline (pickle or joblib file) converted to ONNX with skl2onnx.

Needs the optional extra (``pip install 'drcompat[sklearn]'``); the service itself never imports
scikit-learn. Unpickling runs code from the file, so only trusted files belong here: the CLI takes
them, the REST API only when ``DRC_ALLOW_PICKLE_IMPORT`` is set. The converted graph must agree
with the pipeline on the training sample before it goes on to the ONNX import's own checks.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from drcompat.codecs.csv_codec import decode_csv
from drcompat.models.metadata import TargetType
from drcompat.registry.importer import ImportSpec, ModelImportError

EXTRA_HINT = "Importing a scikit-learn pipeline needs the optional extra: pip install 'drcompat[sklearn]'."
TOLERANCE = 1e-3
CHECK_ROWS = 500


def _load(payload: bytes) -> Any:
    try:
        import joblib
    except ImportError as exc:
        raise ModelImportError(EXTRA_HINT) from exc
    try:
        return joblib.load(io.BytesIO(payload))  # reads plain pickles too
    except Exception as exc:
        raise ModelImportError("The file is not a pickled or joblib-saved scikit-learn model.") from exc


def convert_pipeline(
    payload: bytes, sample_csv: bytes, target_name: str, **spec_fields: Any
) -> tuple[bytes, ImportSpec]:
    """The ONNX graph of the pipeline and the import spec its fitted classes imply."""
    try:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    except ImportError as exc:
        raise ModelImportError(EXTRA_HINT) from exc
    pipeline = _load(payload)
    if not hasattr(pipeline, "predict"):
        raise ModelImportError("The file holds no fitted scikit-learn model (it has no predict method).")
    sample = decode_csv(sample_csv, "utf-8")
    names = [str(n) for n in getattr(pipeline, "feature_names_in_", [c for c in sample.columns if c != target_name])]
    missing = [n for n in names if n not in sample.columns]
    if missing:
        raise ModelImportError(f"Features missing from the sample: {', '.join(missing)}.")
    numeric = {n: pd.api.types.is_numeric_dtype(sample[n].dtype) for n in names}
    classes = getattr(pipeline, "classes_", None)
    kind = (
        TargetType.REGRESSION if classes is None else TargetType.BINARY if len(classes) == 2 else TargetType.MULTICLASS
    )
    labels = tuple(c.item() if isinstance(c, np.generic) else c for c in (classes if classes is not None else ()))
    x = sample[names].head(CHECK_ROWS)
    if all(numeric.values()):  # one float matrix: what any numeric pipeline accepts
        inputs: list[tuple[str, Any]] = [("input", FloatTensorType([None, len(names)]))]
        x = x.astype(np.float32)
        feeds = {"input": x.to_numpy(dtype=np.float32)}
    else:  # one input per column: a ColumnTransformer picks them by name
        inputs = [(n, FloatTensorType([None, 1]) if numeric[n] else StringTensorType([None, 1])) for n in names]
        x = x.astype({n: np.float32 if numeric[n] else str for n in names})
        feeds = {n: x[n].to_numpy().reshape(-1, 1) for n in names}
    options = {id(pipeline): {"zipmap": False}} if classes is not None else None
    try:
        onnx_model = to_onnx(pipeline, initial_types=inputs, options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    except Exception as exc:
        raise ModelImportError(f"skl2onnx cannot convert this pipeline: {str(exc).splitlines()[0][:300]}") from exc
    onnx_bytes = onnx_model.SerializeToString()
    _check_agreement(pipeline, onnx_bytes, x, feeds, classes is not None)
    if kind is not TargetType.REGRESSION and not all(isinstance(c, int | str) for c in labels):
        labels = tuple(str(c) for c in labels)
    spec = ImportSpec(
        target_type=kind.value, target_name=target_name, class_labels=labels, feature_names=tuple(names), **spec_fields
    )
    return onnx_bytes, spec


def _check_agreement(
    pipeline: Any, onnx_bytes: bytes, x: pd.DataFrame, feeds: dict[str, Any], classifier: bool
) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    results = dict(zip(outputs, session.run(outputs, feeds), strict=True))
    if classifier:
        expected: Any = np.asarray(pipeline.predict_proba(x), dtype=np.float64)
        got = np.asarray(results.get("probabilities", results[outputs[-1]]), dtype=np.float64).reshape(expected.shape)
        scale = 1.0
    else:
        expected = np.asarray(pipeline.predict(x), dtype=np.float64).reshape(-1)
        got = np.asarray(results[outputs[0]], dtype=np.float64).reshape(-1)
        scale = max(1.0, float(np.abs(expected).max()))
    worst = float(np.abs(expected - got).max()) / scale
    if not worst <= TOLERANCE:
        raise ModelImportError(
            f"The converted ONNX graph disagrees with the pipeline on the training sample (relative difference "
            f"{worst:.2g} > {TOLERANCE}); the pipeline uses something skl2onnx does not convert faithfully."
        )
