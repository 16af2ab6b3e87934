"""Model import: an ONNX graph plus a sample of its training data becomes a model version.

The features and their types come from the graph's inputs and are checked against the sample;
the output layout, the class labels and the probability columns are checked against each other;
then the version is written to a store in memory, loaded by the service's own ``ModelStore`` and
scored on the sample, exactly as a request would be. Only a model that passes all of it is
written to storage (``model.yaml`` last, so a reader never sees a half-written version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import yaml

from drcompat.codecs.csv_codec import decode_csv
from drcompat.errors import ApiError
from drcompat.features import feature_columns
from drcompat.models import ModelMetadata, ModelStore, OnnxModel
from drcompat.models.metadata import Label, MetadataError, TargetType
from drcompat.models.onnx_model import ONNX_FLOAT_TYPES, ONNX_INT_TYPES
from drcompat.registry.stats import background_sample, training_stats
from drcompat.registry.versions import model_document, new_object_id
from drcompat.storage import Storage
from drcompat.storage.memory import MemoryStorage

PROBABILITY_NAMES = ("probabilities", "output_probability", "probability")
PREDICTION_NAMES = ("variable", "prediction", "predictions", "output")
MAX_SAMPLE_ROWS = 100_000


class ModelImportError(ApiError):
    """The model and its sample cannot become a model version; the message says what to fix."""

    status = 422


@dataclass(frozen=True)
class ImportSpec:
    """What the graph cannot say: the target, its type and (for classification) the labels in
    the order of the probability columns."""

    target_type: str
    target_name: str
    class_labels: tuple[Label, ...] = ()
    positive_class_label: Label | None = None
    prediction_threshold: float | None = None
    name: str = ""
    description: str = ""
    feature_names: tuple[str, ...] = ()  # a matrix input's columns, when not the sample's own order


def coerce_labels(labels: list[Any] | tuple[Any, ...]) -> tuple[Label, ...]:
    """Labels as the model reports them: integers when every label is an integer, else text."""
    texts = [str(label).strip() for label in labels]
    try:
        return tuple(int(t) for t in texts)
    except ValueError:
        return tuple(texts)


def _describe(args: list[Any]) -> str:
    return ", ".join(f"{a.name} ({a.type}, shape {a.shape})" for a in args)


def _session(onnx_bytes: bytes) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types for anything unreadable
        raise ModelImportError("The model file is not an ONNX graph onnxruntime can load.") from exc


def graph_features(
    session: ort.InferenceSession, sample: pd.DataFrame, target: str, names: tuple[str, ...] = ()
) -> list[dict[str, str]]:
    """Features and types from the graph's inputs: one ``[N, 1]`` input per feature (named after
    it), or one numeric ``[N, k]`` matrix whose k columns are the sample's columns besides the target."""
    inputs = session.get_inputs()
    single = inputs[0] if len(inputs) == 1 else None
    if single is not None and len(single.shape) == 2 and single.name not in sample.columns:
        width = single.shape[1]
        if single.type not in ONNX_FLOAT_TYPES:
            raise ModelImportError(
                f"The graph's single input {single.name!r} must be float or double, not {single.type}."
            )
        if not isinstance(width, int):
            raise ModelImportError(
                f"The graph's single input {single.name!r} has no fixed width ({width}): "
                "export it with the feature count as its second dimension."
            )
        columns = list(names) or [c for c in sample.columns if c != target]
        missing = [c for c in columns if c not in sample.columns]
        if missing:
            raise ModelImportError(f"Features missing from the sample: {', '.join(missing)}.")
        if len(columns) != width:
            raise ModelImportError(
                f"The graph takes one matrix of {width} numeric features, but the sample has {len(columns)} "
                f"columns besides the target {target!r}: give the sample exactly the model's features, in order."
            )
        return [{"name": str(c), "type": "numeric"} for c in columns]
    features = []
    for item in inputs:
        if len(item.shape) != 2 or (item.shape[1] not in (1, None) and not isinstance(item.shape[1], str)):
            raise ModelImportError(
                f"Unknown input layout: input {item.name!r} has shape {item.shape}; expected one [N, 1] input per "
                "feature or a single [N, k] matrix."
            )
        if item.type == "tensor(string)":
            features.append({"name": item.name, "type": "categorical"})
        elif item.type in ONNX_FLOAT_TYPES or item.type in ONNX_INT_TYPES:
            features.append({"name": item.name, "type": "numeric"})
        else:
            raise ModelImportError(f"Input {item.name!r} has unsupported type {item.type}.")
    missing = [f["name"] for f in features if f["name"] not in sample.columns]
    if missing:
        raise ModelImportError(f"Features missing from the sample: {', '.join(missing)}.")
    return features


def graph_outputs(session: ort.InferenceSession, spec: ImportSpec) -> tuple[dict[str, str], str | None]:
    """The output the service reads (``outputs`` in model.yaml) and, for classifiers, the graph's
    label output when it has one (used to check the label order)."""
    outputs = session.get_outputs()
    tensors = [o for o in outputs if o.type.startswith("tensor(")]
    if spec.target_type == TargetType.REGRESSION:
        candidates = [
            o
            for o in tensors
            if o.type in ONNX_FLOAT_TYPES and (len(o.shape) == 1 or (len(o.shape) == 2 and o.shape[1] in (1, None)))
        ]
        if not candidates:
            raise ModelImportError(
                "Unknown output layout: a Regression model needs one float output of shape [N] or [N, 1]; "
                f"the graph has {_describe(outputs)}."
            )
        named = [o for o in candidates if o.name in PREDICTION_NAMES]
        return {"prediction": (named or candidates)[0].name}, None
    candidates = [o for o in tensors if o.type in ONNX_FLOAT_TYPES and len(o.shape) == 2]
    if not candidates:
        hint = ""
        if any(o.type.startswith("seq(map") for o in outputs):
            hint = " Its probabilities are a sequence of maps (skl2onnx's ZipMap): convert with zipmap disabled."
        raise ModelImportError(
            f"Unknown output layout: a {spec.target_type} model needs a float [N, classes] probability output; "
            f"the graph has {_describe(outputs)}.{hint}"
        )
    named = [o for o in candidates if o.name in PROBABILITY_NAMES]
    probabilities = (named or candidates)[-1]
    width = probabilities.shape[1]
    if isinstance(width, int) and width != len(spec.class_labels):
        raise ModelImportError(
            f"The {len(spec.class_labels)} class labels do not match the {width} probability columns of output "
            f"{probabilities.name!r}."
        )
    labels = [o for o in tensors if o is not probabilities and o.type in ("tensor(int64)", "tensor(string)")]
    return {"probabilities": probabilities.name}, (labels[0].name if labels else None)


def _check_label_order(
    session: ort.InferenceSession, model: OnnxModel, columns: dict[str, np.ndarray], label_output: str
) -> None:
    """Where the graph also reports the label, the highest probability must be in that label's column."""
    feeds = model.feeds(columns)
    labels_out, probabilities = session.run([label_output, model.main_output], feeds)
    probabilities = np.asarray(probabilities).reshape(len(labels_out), -1)
    ordered = np.sort(probabilities, axis=1)
    clear = ordered[:, -1] - ordered[:, -2] > 1e-6
    names = np.asarray([str(c) for c in model.metadata.class_labels], dtype=object)
    reported = np.asarray(labels_out).reshape(-1).astype(str)
    wrong = clear & (names[probabilities.argmax(axis=1)] != reported)
    if bool(wrong.any()):
        row = int(np.flatnonzero(wrong)[0])
        raise ModelImportError(
            f"The class labels do not match the probability columns: on sample row {row} the graph predicts "
            f"{reported[row]!r} but the highest probability is in the column of "
            f"{names[probabilities[row].argmax()]!r}. "
            "List classLabels in the order of the model's probability columns."
        )


def _holdout(model: OnnxModel, frame: pd.DataFrame, columns: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """The sample's score when it carries the target (what a later model replacement compares)."""
    meta = model.metadata
    if meta.target_name not in frame.columns:
        return None
    target = frame[meta.target_name]
    known = target.notna().to_numpy()
    if not known.any():
        return None
    scores = model.predict({k: v[known] for k, v in columns.items()})
    truth = target[known]
    if scores.probabilities is not None:
        names = np.asarray([str(c) for c in meta.class_labels], dtype=object)
        truth_text = truth.astype(str).str.replace(r"\.0$", "", regex=True).to_numpy(dtype=object)
        unknown = sorted(set(truth_text) - set(names))
        if unknown:
            raise ModelImportError(
                f"The sample's target {meta.target_name!r} has values that are not class labels: "
                f"{', '.join(unknown[:5])} (class labels: {', '.join(names)})."
            )
        if meta.target_type is TargetType.BINARY:
            positive = [str(c) for c in meta.class_labels].index(str(meta.positive_class))
            chosen = np.where(scores.probabilities[:, positive] >= meta.prediction_threshold, positive, 1 - positive)
        else:
            chosen = scores.probabilities.argmax(axis=1)
        return {
            "metric": "accuracy",
            "value": round(float((names[chosen] == truth_text).mean()), 6),
            "rows": int(known.sum()),
        }
    y = pd.to_numeric(truth, errors="coerce").to_numpy(dtype=np.float64)
    if np.isnan(y).any():
        raise ModelImportError(f"The sample's target {meta.target_name!r} must be numeric for a Regression model.")
    assert scores.values is not None
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - scores.values) ** 2).sum()) / total if total > 0 else 0.0
    return {"metric": "r2", "value": round(r2, 6), "rows": int(known.sum())}


def build_version(onnx_bytes: bytes, sample_csv: bytes, spec: ImportSpec) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The checked model.yaml document and the files of the new version (nothing written yet)."""
    if spec.target_type not in {t.value for t in TargetType}:
        raise ModelImportError("targetType must be Regression, Binary or Multiclass.")
    if not spec.target_name:
        raise ModelImportError("targetName is required.")
    classification = spec.target_type != TargetType.REGRESSION
    if classification and len(spec.class_labels) < 2:
        raise ModelImportError(
            f"A {spec.target_type} model needs its classLabels, in the order of its probability columns."
        )
    if not classification and spec.class_labels:
        raise ModelImportError("A Regression model takes no classLabels.")
    session = _session(onnx_bytes)
    raw = decode_csv(sample_csv, "utf-8")
    if raw.empty:
        raise ModelImportError("The training sample has no rows.")
    if len(raw) > MAX_SAMPLE_ROWS:
        raise ModelImportError(f"The training sample has more than {MAX_SAMPLE_ROWS} rows; send a sample.")
    features = graph_features(session, raw, spec.target_name, spec.feature_names)
    outputs, label_output = graph_outputs(session, spec)
    fields: dict[str, Any] = {
        "name": spec.name or "imported model",
        "description": spec.description,
        "targetType": spec.target_type,
        "targetName": spec.target_name,
    }
    if classification:
        fields["classLabels"] = list(spec.class_labels)
    if spec.target_type == TargetType.BINARY:
        positive = spec.class_labels[1] if spec.positive_class_label is None else spec.positive_class_label
        positive = next((c for c in spec.class_labels if str(c) == str(positive)), positive)
        if positive not in spec.class_labels:
            raise ModelImportError(f"positiveClassLabel {positive!r} is not one of the class labels.")
        fields["positiveClassLabel"] = positive
        fields["negativeClassLabel"] = next(c for c in spec.class_labels if c != positive)
        fields["predictionThreshold"] = 0.5 if spec.prediction_threshold is None else spec.prediction_threshold
    fields["features"] = features
    fields["outputs"] = outputs
    categorical = [f["name"] for f in features if f["type"] == "categorical"]
    frame = decode_csv(sample_csv, "utf-8", categorical)
    model_id = new_object_id()
    try:
        metadata = ModelMetadata.from_dict(model_document(model_id, onnx_bytes, fields))
        columns = feature_columns(frame, metadata)
    except MetadataError as exc:
        raise ModelImportError(f"The model metadata is not valid: {exc}.") from exc
    except ApiError as exc:
        raise ModelImportError(f"The training sample does not fit the model: {exc.message}") from exc
    stats_frame = pd.DataFrame(
        {f["name"]: columns[f["name"]] if f["type"] == "numeric" else frame[f["name"]] for f in features}
    )
    fields["trainingStats"] = training_stats(stats_frame, features)
    background = background_sample(frame[[f["name"] for f in features]])
    files = {"model.onnx": onnx_bytes, "background.csv": background.to_csv(index=False).encode()}
    try:  # the scores' shape first, so a label/column mismatch is named as such
        OnnxModel(metadata, onnx_bytes).predict(columns)
    except MetadataError as exc:
        if "classLabels" in str(exc):
            raise ModelImportError(
                f"The {len(spec.class_labels)} class labels do not match the probability columns of output "
                f"{outputs['probabilities']!r}."
            ) from exc
        raise ModelImportError(f"The model cannot be served: {exc}.") from exc
    except Exception as exc:  # onnxruntime's own errors: wrong input types or shapes
        raise ModelImportError(f"The model fails on the training sample: {str(exc).splitlines()[0][:300]}") from exc
    model = rehearse(model_id, files, fields)
    if label_output is not None:
        _check_label_order(session, model, columns, label_output)
    scores = model.predict(columns)
    produced = scores.probabilities if scores.probabilities is not None else scores.values
    if produced is None or not np.isfinite(produced).all():
        raise ModelImportError("The model produced missing or infinite values on the training sample.")
    holdout = _holdout(model, frame, columns)
    if holdout is not None:
        fields["holdout"] = holdout
    document = model_document(model_id, onnx_bytes, fields)
    files["model.yaml"] = yaml.safe_dump(document, sort_keys=False).encode()
    return document, files


def rehearse(model_id: str, files: dict[str, bytes], fields: dict[str, Any]) -> OnnxModel:
    """Load the version from a store in memory with the service's own loader."""
    memory = MemoryStorage()
    document = model_document(model_id, files["model.onnx"], fields)
    for name, data in {**files, "model.yaml": yaml.safe_dump(document, sort_keys=False).encode()}.items():
        memory.write(f"models/{model_id}/{name}", data)
    try:
        return ModelStore(memory).load(model_id)
    except ApiError as exc:
        raise ModelImportError(
            exc.message.replace(f"Model {model_id} could not be loaded: ", "The model cannot be served: ")
        ) from exc
    except MetadataError as exc:
        raise ModelImportError(f"The model cannot be served: {exc}.") from exc


def import_model(storage: Storage, onnx_bytes: bytes, sample_csv: bytes, spec: ImportSpec) -> ModelMetadata:
    """Check, rehearse and store a new model version; returns its metadata."""
    document, files = build_version(onnx_bytes, sample_csv, spec)
    model_id = document["modelId"]
    for name in ("model.onnx", "background.csv", "model.yaml"):  # model.yaml last: the version exists once it does
        storage.write(f"models/{model_id}/{name}", files[name])
    return ModelMetadata.from_dict(document)
