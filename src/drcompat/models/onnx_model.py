"""The onnxruntime scorer: one ``session.run`` per batch, inputs fed column-wise or as a matrix.

Two input layouts cover what skl2onnx and other converters produce:

* ``matrix``: a single 2-D numeric input whose width is the feature count (all-numeric models);
* ``columns``: one ``[N, 1]`` input per feature, named after it (mixed numeric/categorical pipelines).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort

from drcompat.models.metadata import MetadataError, ModelMetadata

ONNX_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}
ONNX_INT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
MAX_BACKGROUND_ROWS = 256  # explanation cost grows linearly with it


@dataclass
class Scores:
    """What the model computed for a batch, before any response shaping."""

    values: np.ndarray | None = None  # regression predictions, shape (n,)
    probabilities: np.ndarray | None = None  # classification, shape (n, k) in classLabels order
    extra: dict[str, np.ndarray] = field(default_factory=dict)


class OnnxModel:
    """A loaded model: metadata plus an onnxruntime session prepared at load time."""

    def __init__(
        self, metadata: ModelMetadata, onnx_bytes: bytes, intra_op_threads: int = 0, allow_spinning: bool = True
    ) -> None:
        self.metadata = metadata
        self.size_bytes = len(onnx_bytes)
        # Per-request readers ask these; worked out once here.
        self.feature_names = [f.name for f in metadata.features]
        self.feature_kinds = [(f.name, f.type == "numeric") for f in metadata.features]  # (name, numeric)
        self.all_numeric = all(numeric for _, numeric in self.feature_kinds)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if intra_op_threads:
            options.intra_op_num_threads = intra_op_threads
        # Pool threads may busy-wait between a run's parallel sections, never after it: see
        # Settings.onnx_allow_spinning.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
        options.add_session_config_entry("session.force_spinning_stop", "1")
        self.session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        self._plan_inputs()
        self._plan_outputs()
        self.background: dict[str, np.ndarray] | None = None
        self.background_scores: Scores | None = None
        self.explanation_plan: Any = None  # a shapley.Plan, built with the background at load
        self.time_series: Any = None  # a timeseries.TimeSeriesSpec for time-series models

    def attach_background(self, columns: dict[str, np.ndarray]) -> None:
        """Keep the explanation background and the model's scores on it (computed once)."""
        rows = len(next(iter(columns.values())))
        if not 1 <= rows <= MAX_BACKGROUND_ROWS:
            raise MetadataError(f"the explanation background must hold 1 to {MAX_BACKGROUND_ROWS} rows")
        from drcompat.explain.shapley import plan  # the explain package imports this module

        self.background = columns
        self.background_scores = self.predict(columns)
        self.explanation_plan = plan(len(self.metadata.features), rows)

    def _plan_inputs(self) -> None:
        inputs = self.session.get_inputs()
        features = self.metadata.features
        names = {i.name for i in inputs}
        if len(inputs) == 1 and len(inputs[0].shape) == 2 and inputs[0].shape[1] == len(features):
            dtype = ONNX_FLOAT_TYPES.get(inputs[0].type)
            if dtype is None or any(f.type != "numeric" for f in features):
                raise MetadataError("a single matrix input must be float/double over numeric features")
            self.layout = "matrix"
            self.matrix_input = inputs[0].name
            self.matrix_dtype = dtype
        elif names == {f.name for f in features}:
            self.layout = "columns"
            self.column_dtypes: dict[str, type] = {}
            for item in inputs:
                if item.type == "tensor(string)":
                    self.column_dtypes[item.name] = object
                elif item.type in ONNX_FLOAT_TYPES:
                    self.column_dtypes[item.name] = ONNX_FLOAT_TYPES[item.type]
                elif item.type in ONNX_INT_TYPES:
                    self.column_dtypes[item.name] = ONNX_INT_TYPES[item.type]
                else:
                    raise MetadataError(f"input {item.name!r} has unsupported type {item.type}")
        else:
            raise MetadataError("ONNX inputs match neither the feature list nor one feature matrix")

    def _plan_outputs(self) -> None:
        outputs = [o.name for o in self.session.get_outputs()]
        meta = self.metadata
        if meta.is_classification:
            name = meta.outputs.get("probabilities") or ("probabilities" if "probabilities" in outputs else outputs[-1])
        else:
            name = meta.outputs.get("prediction") or outputs[0]
        missing = [n for n in (name, *meta.extra_outputs) if n not in outputs]
        if missing:
            raise MetadataError(f"outputs not in the ONNX graph: {', '.join(missing)}")
        self.main_output = name
        self.output_names = [name, *meta.extra_outputs]

    def block_feeds(self, block: np.ndarray) -> dict[str, np.ndarray]:
        """Model inputs from a float64 block (rows x features, feature order) of numeric features."""
        if self.layout == "matrix":
            return {self.matrix_input: np.ascontiguousarray(block, dtype=self.matrix_dtype)}
        return {
            name: np.ascontiguousarray(block[:, j], dtype=self.column_dtypes[name]).reshape(-1, 1)
            for j, name in enumerate(self.feature_names)
        }

    def feeds(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Model inputs from feature columns already coerced to their types (see ``features``)."""
        names = self.feature_names
        if self.layout == "matrix":
            matrix = np.empty((len(columns[names[0]]), len(names)), dtype=self.matrix_dtype)
            for j, name in enumerate(names):
                matrix[:, j] = columns[name]
            return {self.matrix_input: matrix}
        return {name: columns[name].astype(self.column_dtypes[name], copy=False).reshape(-1, 1) for name in names}

    def run(self, feeds: dict[str, np.ndarray]) -> Scores:
        """One session.run for the whole batch."""
        results = self.session.run(self.output_names, feeds)
        main = np.asarray(results[0])
        n = next(iter(feeds.values())).shape[0]
        scores = Scores(
            extra={
                name: np.asarray(v).reshape(n, -1)[:, 0]
                for name, v in zip(self.metadata.extra_outputs, results[1:], strict=True)
            }
        )
        if self.metadata.is_classification:
            probabilities = main.reshape(n, -1)
            if probabilities.shape[1] != len(self.metadata.class_labels):
                raise MetadataError("the probability output width differs from the number of classLabels")
            scores.probabilities = probabilities
        else:
            scores.values = main.reshape(n, -1)[:, 0]
        return scores

    def predict(self, columns: dict[str, np.ndarray]) -> Scores:
        return self.run(self.feeds(columns))
