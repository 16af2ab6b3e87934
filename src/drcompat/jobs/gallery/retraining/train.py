"""Train, convert, check and hand over a candidate model (see README.md)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import yaml
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

SEED = 7
BACKGROUND_ROWS = 32


def param(name: str) -> Any:
    """A runtime parameter as DataRobot's runtime delivers it (None when unset)."""
    raw = os.environ.get("MLOPS_RUNTIME_PARAM_" + name)
    return json.loads(raw)["payload"] if raw else None


def read_training_data(location: str) -> pd.DataFrame:
    if location.startswith("s3://"):
        import boto3

        bucket, _, key = location[len("s3://") :].partition("/")
        credential = param("DATA_CREDENTIAL") or {}
        client = boto3.client(
            "s3",
            aws_access_key_id=credential.get("awsAccessKeyId"),
            aws_secret_access_key=credential.get("awsSecretAccessKey"),
            aws_session_token=credential.get("awsSessionToken"),
            endpoint_url=os.environ.get("DRC_S3_ENDPOINT_URL"),
        )
        return pd.read_csv(client.get_object(Bucket=bucket, Key=key)["Body"])
    return pd.read_csv(Path(location))


def target_type(y: pd.Series, requested: str) -> str:
    if requested != "auto":
        return requested
    if y.nunique() == 2:
        return "Binary"
    if not pd.api.types.is_numeric_dtype(y) or y.nunique() <= 10:
        return "Multiclass"
    return "Regression"


def statistics(frame: pd.DataFrame, features: list[dict[str, str]]) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    for feature in features:
        column = frame[feature["name"]]
        if feature["type"] == "numeric":
            stats[feature["name"]] = {
                "min": float(column.min()),
                "max": float(column.max()),
                "mean": float(column.mean()),
                "std": float(column.std()),
                "missing": int(column.isna().sum()),
            }
        else:
            counts = column.value_counts(normalize=True)
            stats[feature["name"]] = {"values": {str(k): round(float(v), 6) for k, v in counts.items()}}
    return stats


def main() -> int:
    data = read_training_data(str(param("TRAINING_DATA")))
    target = str(param("TARGET"))
    if target not in data.columns:
        print(f"target column {target!r} is not in the training data", file=sys.stderr)
        return 2
    data = data.dropna(subset=[target])
    y = data[target]
    x = data.drop(columns=[target])
    kind = target_type(y, str(param("TARGET_TYPE") or "auto"))
    categorical = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    numeric = [c for c in x.columns if c not in categorical]
    x[categorical] = x[categorical].astype(str)
    features = [{"name": c, "type": "categorical" if c in categorical else "numeric"} for c in x.columns]
    stratify = y if kind != "Regression" else None
    holdout = float(param("HOLDOUT_FRACTION") or 0.25)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=holdout, random_state=SEED, stratify=stratify)

    estimators = int(param("N_ESTIMATORS") or 60)
    model = (
        GradientBoostingRegressor(n_estimators=estimators, max_depth=3, random_state=SEED)
        if kind == "Regression"
        else GradientBoostingClassifier(n_estimators=estimators, max_depth=3, random_state=SEED)
    )
    prep = ColumnTransformer(
        [
            # No scaling: trees do not need it, and float32 scaling in ONNX would move values
            # across split thresholds that scikit-learn computes in float64.
            ("num", SimpleImputer(strategy="median"), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    pipeline = Pipeline([("prep", prep), ("model", model)])
    pipeline.fit(x_train, y_train)
    score = float(pipeline.score(x_test, y_test))
    metric = "r2" if kind == "Regression" else "accuracy"
    print(f"trained {kind} model on {len(x_train)} rows; holdout {metric} = {score:.4f}")

    inputs = [
        (f["name"], FloatTensorType([None, 1]) if f["type"] == "numeric" else StringTensorType([None, 1]))
        for f in features
    ]
    options = {id(pipeline): {"zipmap": False}} if kind != "Regression" else None
    onnx_model = to_onnx(pipeline, initial_types=inputs, options=options, target_opset={"": 17, "ai.onnx.ml": 3})

    # The converted model must give the pipeline's predictions on the holdout.
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {
        f["name"]: (
            x_test[f["name"]].astype(str) if f["type"] == "categorical" else x_test[f["name"]].astype(np.float32)
        )
        .to_numpy()
        .reshape(-1, 1)
        for f in features
    }
    if kind == "Regression":
        got = session.run(["variable"], feeds)[0][:, 0]
        gap = float(np.max(np.abs(got - pipeline.predict(x_test))))
        tolerance = 1e-3 * max(1.0, float(np.abs(y_test).max()))
    else:
        got = session.run(["probabilities"], feeds)[0]
        gap = float(np.max(np.abs(got - pipeline.predict_proba(x_test))))
        tolerance = 1e-4
    print(f"ONNX vs scikit-learn on the holdout: largest difference {gap:.2e}")
    if gap > tolerance:
        print("the ONNX conversion does not reproduce the pipeline", file=sys.stderr)
        return 3
    minimum = param("MIN_HOLDOUT_SCORE")
    if minimum is not None and score < float(minimum):
        print(f"holdout {metric} {score:.4f} is below MIN_HOLDOUT_SCORE {float(minimum):.4f}", file=sys.stderr)
        return 4

    metadata: dict[str, Any] = {
        "name": f"retrained-{target}",
        "description": f"Retrained by a custom job on {len(x_train)} rows.",
        "targetType": kind,
        "targetName": target,
        "features": features,
        "holdout": {"metric": metric, "value": round(score, 6)},
        "trainingStats": statistics(x_train, features),
    }
    if kind == "Regression":
        metadata["outputs"] = {"prediction": "variable"}
    else:
        labels = [v.item() if hasattr(v, "item") else v for v in pipeline.classes_]
        metadata["classLabels"] = labels
        metadata["outputs"] = {"probabilities": "probabilities"}
        if kind == "Binary":
            positive = param("POSITIVE_CLASS")
            chosen = (
                next((label for label in labels if str(label) == str(positive)), labels[1]) if positive else labels[1]
            )
            metadata["positiveClassLabel"] = chosen
            metadata["predictionThreshold"] = 0.5

    output = Path(os.environ.get("DRC_OUTPUT_DIR", "output"))
    output.mkdir(parents=True, exist_ok=True)
    (output / "model.onnx").write_bytes(onnx_model.SerializeToString())
    (output / "model.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))
    x_train.sample(min(BACKGROUND_ROWS, len(x_train)), random_state=SEED).to_csv(output / "background.csv", index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
