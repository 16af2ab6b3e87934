"""Small ONNX graphs built in the tests, to publish new versions and models with extra outputs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

from drcompat.storage import LocalStorage

DIABETES = ["age", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def linear_regression(weights: list[float], bias: float, extra: bool = False, double: bool = False) -> bytes:
    """``variable = x @ weights + bias``; with ``extra``, also ``doubled`` (float) and ``high`` (bool)."""
    n = len(weights)
    dtype, onnx_type = (np.float64, TensorProto.DOUBLE) if double else (np.float32, TensorProto.FLOAT)
    w = numpy_helper.from_array(np.array(weights, dtype=dtype).reshape(n, 1), "w")
    b = numpy_helper.from_array(np.array([bias], dtype=dtype), "b")
    two = numpy_helper.from_array(np.array([2.0], dtype=dtype), "two")
    hundred = numpy_helper.from_array(np.array([100.0], dtype=dtype), "hundred")
    nodes = [helper.make_node("MatMul", ["input", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["variable"])]
    outputs = [helper.make_tensor_value_info("variable", onnx_type, [None, 1])]
    if extra:
        nodes += [
            helper.make_node("Mul", ["variable", "two"], ["doubled"]),
            helper.make_node("Greater", ["variable", "hundred"], ["high"]),
        ]
        outputs += [
            helper.make_tensor_value_info("doubled", onnx_type, [None, 1]),
            helper.make_tensor_value_info("high", TensorProto.BOOL, [None, 1]),
        ]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("input", onnx_type, [None, n])],
        outputs,
        initializer=[w, b, two, hundred],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def publish(
    bucket: Path,
    model_id: str,
    payload: bytes,
    extra_outputs: list[str] | None = None,
    features: list[str] | None = None,
    background: bytes | None = None,
) -> None:
    """Write a regression model version (diabetes features by default) into the bucket."""
    folder = bucket / "models" / model_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(payload)
    if background is not None:
        (folder / "background.csv").write_bytes(background)
    metadata = {
        "modelId": model_id,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "name": f"linear_{model_id[-4:]}",
        "targetType": "Regression",
        "targetName": "progression",
        "features": [{"name": f, "type": "numeric"} for f in (features or DIABETES)],
        "outputs": {"prediction": "variable"},
        "extraOutputs": extra_outputs or [],
    }
    (folder / "model.yaml").write_text(yaml.safe_dump(metadata))


def point_deployment(bucket: Path, deployment_id: str, model_id: str, **settings: object) -> None:
    """Switch a deployment's model the way a publisher does: one atomic replace of the registry."""
    store = LocalStorage(bucket)
    doc = yaml.safe_load(store.read("deployments.yaml"))
    doc["deployments"][deployment_id]["modelId"] = model_id
    doc["deployments"][deployment_id].update(settings)
    store.write("deployments.yaml", yaml.safe_dump(doc).encode())
