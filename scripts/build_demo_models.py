"""Build the bundled demo models into ``layers/models/`` reproducibly.

Uses only datasets that ship inside scikit-learn (no downloads) and fixed seeds, so running it
twice gives the same predictions. The runtime never imports scikit-learn: it reads the ONNX
files and the ``model.yaml`` metadata this script writes next to them.

    python scripts/build_demo_models.py            # rewrite layers/models/
    python scripts/build_demo_models.py --out DIR  # write the same bytes somewhere else
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import yaml
from onnx import helper, numpy_helper
from skl2onnx import to_onnx
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from drcompat.registry.stats import SEED, background_sample, training_stats
from drcompat.registry.versions import model_document

ROOT = Path(__file__).resolve().parent.parent / "layers" / "models"

# Fixed ids (24-hex, ObjectId-shaped) so the README, events and tests can name them.
BINARY_DEPLOYMENT = "65f1a0000000000000000001"
REGRESSION_DEPLOYMENT = "65f1a0000000000000000002"
MULTICLASS_DEPLOYMENT = "65f1a0000000000000000003"
BINARY_MODEL = "65f1b0000000000000000001"
REGRESSION_MODEL = "65f1b0000000000000000002"
MULTICLASS_MODEL = "65f1b0000000000000000003"
TIMESERIES_DEPLOYMENT = "65f1a0000000000000000004"
TIMESERIES_MODEL = "65f1b0000000000000000004"
EXPOSURE_DEPLOYMENT = "65f1a0000000000000000005"
EXPOSURE_MODEL = "65f1b0000000000000000005"
# The demo token is public on purpose (README); only its SHA-256 is stored.
DEMO_TOKEN = "demo-token-0123456789abcdef"  # noqa: S105 - documented demo credential


def diabetes_frame() -> pd.DataFrame:
    """Diabetes data with ``sex`` as a real categorical column (scikit-learn codes it 1/2)."""
    data = load_diabetes(as_frame=True, scaled=False)
    frame = data.frame.rename(columns={"target": "progression"})
    frame["sex"] = np.where(frame["sex"] == 1, "female", "male")
    return frame


def per_column_inputs(features: list[dict[str, str]]) -> list[tuple[str, Any]]:
    """One ONNX input per feature: float for numeric, string for categorical."""
    return [
        (f["name"], FloatTensorType([None, 1]) if f["type"] == "numeric" else StringTensorType([None, 1]))
        for f in features
    ]


def with_imputation(onnx_model: Any, medians: np.ndarray, dtype: Any) -> Any:
    """Prepend median imputation to a model with one 2-D input, as DataRobot blueprints impute.

    skl2onnx turns SimpleImputer into ai.onnx.ml's Imputer, which onnxruntime runs for floats
    only; ``Where(IsNaN(x), medians, x)`` works for doubles too (the regression demo is double).
    """
    graph = onnx_model.graph
    name = graph.input[0].name
    imputed = f"{name}_imputed"
    for node in graph.node:
        node.input[:] = [imputed if item == name else item for item in node.input]
    medians_init = numpy_helper.from_array(np.asarray(medians, dtype=dtype).reshape(1, -1), f"{name}_medians")
    graph.initializer.append(medians_init)
    graph.node.insert(0, helper.make_node("Where", [f"{name}_missing", medians_init.name, name], [imputed], "Impute"))
    graph.node.insert(0, helper.make_node("IsNaN", [name], [f"{name}_missing"], "Missing"))
    onnx.checker.check_model(onnx_model)
    return onnx_model


def canonical(onnx_model: Any) -> bytes:
    """The model's bytes, independent of the build process: skl2onnx collects the opset imports
    in a set, whose order follows PYTHONHASHSEED, so they are sorted here."""
    opsets = sorted(onnx_model.opset_import, key=lambda o: o.domain)
    del onnx_model.opset_import[:]
    onnx_model.opset_import.extend(opsets)
    return bytes(onnx_model.SerializeToString(deterministic=True))


def write_model(
    model_id: str, onnx_model: Any, metadata: dict[str, Any], sample: pd.DataFrame, background: pd.DataFrame | None
) -> None:
    folder = ROOT / "models" / model_id
    folder.mkdir(parents=True, exist_ok=True)
    if background is not None:
        background_sample(background).to_csv(folder / "background.csv", index=False)
    payload = canonical(onnx_model)
    (folder / "model.onnx").write_bytes(payload)
    metadata = model_document(model_id, payload, metadata)
    (folder / "model.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))
    samples = ROOT / "samples"
    samples.mkdir(exist_ok=True)
    sample.to_csv(samples / f"{metadata['name']}.csv", index=False)


def build_binary() -> None:
    frame = diabetes_frame()
    frame["progression_high"] = (frame["progression"] > 140).astype(int)
    numeric = ["age", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    categorical = ["sex"]
    features = (
        [{"name": c, "type": "numeric"} for c in ["age"]]
        + [{"name": "sex", "type": "categorical"}]
        + [{"name": c, "type": "numeric"} for c in numeric[1:]]
    )
    x = frame[[f["name"] for f in features]]
    y = frame["progression_high"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=SEED)
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        (
                            "num",
                            Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                            numeric,
                        ),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
                    ]
                ),
            ),
            ("model", GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=SEED)),
        ]
    )
    pipeline.fit(x_train, y_train)
    onnx_model = to_onnx(
        pipeline,
        initial_types=per_column_inputs(features),
        options={id(pipeline): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    write_model(
        BINARY_MODEL,
        onnx_model,
        {
            "name": "diabetes_binary",
            "description": "Gradient boosting on diabetes data: is disease progression after a year above 140?",
            "targetType": "Binary",
            "targetName": "progression_high",
            "classLabels": [int(c) for c in pipeline.classes_],
            "positiveClassLabel": 1,
            "negativeClassLabel": 0,
            "predictionThreshold": 0.5,
            "features": features,
            "outputs": {"probabilities": "probabilities"},
            "holdout": {"metric": "accuracy", "value": round(float(pipeline.score(x_test, y_test)), 6)},
            "trainingStats": training_stats(x_train, features),
        },
        x_test.head(20),
        x_train,
    )


def build_regression() -> None:
    frame = diabetes_frame()
    numeric = ["age", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    features = [{"name": c, "type": "numeric"} for c in numeric]
    x = frame[numeric].astype(np.float64)
    y = frame["progression"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=SEED)
    pipeline = Pipeline(
        [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()), ("model", Ridge(alpha=1.0))]
    )
    pipeline.fit(x_train, y_train)
    onnx_model = to_onnx(  # double precision end to end: a linear model explained to 1e-9
        pipeline[1:],
        initial_types=[("input", DoubleTensorType([None, len(numeric)]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    onnx_model = with_imputation(onnx_model, pipeline[0].statistics_, np.float64)
    write_model(
        REGRESSION_MODEL,
        onnx_model,
        {
            "name": "diabetes_regression",
            "description": "Ridge regression of diabetes progression after a year (numeric features only).",
            "targetType": "Regression",
            "targetName": "progression",
            "features": features,
            "outputs": {"prediction": "variable"},
            "holdout": {"metric": "r2", "value": round(float(pipeline.score(x_test, y_test)), 6)},
            "trainingStats": training_stats(x_train, features),
        },
        x_test.head(20),
        x_train,
    )


def build_multiclass() -> None:
    data = load_iris(as_frame=True)
    frame = data.frame.rename(
        columns={
            "sepal length (cm)": "sepal_length",
            "sepal width (cm)": "sepal_width",
            "petal length (cm)": "petal_length",
            "petal width (cm)": "petal_width",
        }
    )
    frame["species"] = np.asarray(data.target_names)[data.target]
    numeric = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    features = [{"name": c, "type": "numeric"} for c in numeric]
    x = frame[numeric].astype(np.float32)
    y = frame["species"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=SEED, stratify=y)
    pipeline = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=500)),
        ]
    )
    pipeline.fit(x_train, y_train)
    scored = pipeline[1:]  # imputation is prepended by hand (see with_imputation)
    onnx_model = to_onnx(
        scored,
        initial_types=[("input", FloatTensorType([None, len(numeric)]))],
        options={id(scored): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    onnx_model = with_imputation(onnx_model, pipeline[0].statistics_, np.float32)
    write_model(
        MULTICLASS_MODEL,
        onnx_model,
        {
            "name": "iris_multiclass",
            "description": "Logistic regression on the iris flowers: which species?",
            "targetType": "Multiclass",
            "targetName": "species",
            "classLabels": [str(c) for c in pipeline.classes_],
            "features": features,
            "outputs": {"probabilities": "probabilities"},
            "holdout": {"metric": "accuracy", "value": round(float(pipeline.score(x_test, y_test)), 6)},
            "trainingStats": training_stats(x_train, features),
        },
        x_test.head(20),
        x_train,
    )


TS_WINDOW = 28
TS_FEATURES = [
    *(f"lag_{k}" for k in range(1, 8)),
    "mean_7",
    "mean_28",
    "std_7",
    "min_7",
    "max_7",
    "dow_sin",
    "dow_cos",
    "known_holiday",
    "forecast_distance",
]


def daily_sales() -> pd.DataFrame:
    """Three stores, two years of daily sales: trend, weekly seasonality, holidays known in advance."""
    rng = np.random.default_rng(SEED)
    dates = pd.date_range("2024-01-01", "2025-12-31", freq="D")
    fixed = {(1, 1), (5, 1), (7, 4), (11, 27), (12, 24), (12, 25), (12, 31)}
    holiday = np.array([(d.month, d.day) in fixed for d in dates]) | (rng.random(len(dates)) < 0.02)
    weekly = np.array([0.9, 0.95, 1.0, 1.0, 1.1, 1.35, 1.2])  # Monday .. Sunday
    frames = []
    for store, level, trend in (("store_a", 200.0, 0.08), ("store_b", 120.0, 0.03), ("store_c", 80.0, -0.01)):
        t = np.arange(len(dates))
        mean = (level + trend * t) * weekly[dates.day_of_week] * np.where(holiday, 1.35, 1.0)
        sales = mean + rng.normal(0, 0.04 * level, len(dates))
        frames.append(
            pd.DataFrame(
                {
                    "date": dates.strftime("%Y-%m-%d"),
                    "store": store,
                    "sales": sales.round(2),
                    "holiday": holiday.astype(int),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def build_timeseries() -> None:
    """A direct multi-horizon model on features the service derives itself (drcompat.timeseries)."""
    from numpy.lib.stride_tricks import sliding_window_view
    from sklearn.ensemble import GradientBoostingRegressor

    from drcompat.timeseries import derive

    data = daily_sales()
    horizons = np.arange(1, 8)
    parts: list[pd.DataFrame] = []
    for _store, group in data.groupby("store", sort=False):
        y = group["sales"].to_numpy()
        dates = pd.to_datetime(group["date"]).to_numpy()
        holiday = group["holiday"].to_numpy()
        windows = sliding_window_view(y, TS_WINDOW)[: len(y) - TS_WINDOW + 1 - len(horizons)]
        points = np.arange(len(windows)) + TS_WINDOW - 1
        history = np.repeat(windows, len(horizons), axis=0)
        distance = np.tile(horizons, len(windows))
        target_index = np.repeat(points, len(horizons)) + distance
        features = derive(TS_FEATURES, history, dates[target_index], distance, {"holiday": holiday[target_index]})
        part = pd.DataFrame(features)
        part["target"] = y[target_index]
        part["point"] = np.repeat(points, len(horizons))
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    holdout = table["point"] >= table["point"].max() - 60
    x = table[TS_FEATURES].astype(np.float32)
    model = GradientBoostingRegressor(n_estimators=150, max_depth=4, learning_rate=0.1, random_state=SEED)
    model.fit(x[~holdout], table.loc[~holdout, "target"])
    score = float(model.score(x[holdout], table.loc[holdout, "target"]))
    onnx_model = to_onnx(
        model,
        initial_types=[("input", FloatTensorType([None, len(TS_FEATURES)]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    history_end = pd.Timestamp("2025-12-24")
    dates = pd.to_datetime(data["date"])
    # Two weeks more history than the window: enough for a date-range request over the sample's
    # last week of history at every forecast distance (README: "Time series").
    recent = data[
        (dates > history_end - pd.Timedelta(days=TS_WINDOW + 14)) & (dates <= history_end + pd.Timedelta(days=7))
    ].copy()
    recent.loc[pd.to_datetime(recent["date"]) > history_end, "sales"] = np.nan
    write_model(
        TIMESERIES_MODEL,
        onnx_model,
        {
            "name": "daily_sales_timeseries",
            "description": "Direct multi-horizon gradient boosting: daily sales of three stores, 1-7 days ahead.",
            "targetType": "Regression",
            "targetName": "sales",
            "features": [{"name": f, "type": "numeric"} for f in TS_FEATURES],
            "outputs": {"prediction": "variable"},
            "holdout": {"metric": "r2", "value": round(score, 6)},
            "timeSeries": {
                "datetimeColumn": "date",
                "datetimeFormat": "%Y-%m-%d",
                "seriesIdColumn": "store",
                "timeStep": {"unit": "day", "count": 1},
                "featureDerivationWindow": TS_WINDOW,
                "forecastWindow": [1, 7],
                "knownInAdvance": ["holiday"],
            },
            "trainingStats": training_stats(table[~holdout], [{"name": f, "type": "numeric"} for f in TS_FEATURES]),
        },
        recent,
        None,
    )
    data.to_csv(ROOT / "datasets" / "daily_sales.csv", index=False)


def claims_frame() -> pd.DataFrame:
    """Synthetic motor policies: claim counts over each policy's exposure (years insured)."""
    rng = np.random.default_rng(SEED)
    rows = 3000
    frame = pd.DataFrame(
        {
            "policy_id": [f"{i:06d}" for i in range(rows)],  # zero-padded: passthrough keeps "000007"
            "driver_age": rng.integers(18, 85, rows).astype(float),
            "vehicle_age": rng.integers(0, 20, rows).astype(float),
            "vehicle_power": rng.integers(4, 15, rows).astype(float),
            "density": np.round(np.exp(rng.normal(6.0, 1.5, rows)), 1),
            "exposure": np.round(rng.uniform(0.05, 1.0, rows), 3),
        }
    )
    young = np.clip((30 - frame["driver_age"]) / 12, 0, None)
    rate = np.exp(
        -2.3
        + 0.6 * young
        + 0.02 * frame["vehicle_power"]
        - 0.015 * frame["vehicle_age"]
        + 0.08 * np.log(frame["density"])
    )
    frame["claim_count"] = rng.poisson(rate * frame["exposure"])
    return frame


def build_exposure() -> None:
    """Poisson regression of claim counts with a log-exposure offset (DataRobot's exposure).

    A Poisson GLM with offset log(exposure) is fitted as the rate ``claims / exposure`` weighted
    by exposure; the ONNX model outputs that rate (exposure 1) and the service multiplies by each
    row's exposure for ``adjustedPrediction``.
    """
    from sklearn.linear_model import PoissonRegressor

    frame = claims_frame()
    numeric = ["driver_age", "vehicle_age", "vehicle_power", "density"]
    features = [{"name": c, "type": "numeric"} for c in numeric]
    train, test = train_test_split(frame, test_size=0.25, random_state=SEED)
    pipeline = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("model", PoissonRegressor(alpha=1e-4, max_iter=1000)),
        ]
    )
    pipeline.fit(train[numeric], train["claim_count"] / train["exposure"], model__sample_weight=train["exposure"])
    onnx_model = to_onnx(
        pipeline[1:],
        initial_types=[("input", DoubleTensorType([None, len(numeric)]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    onnx_model = with_imputation(onnx_model, pipeline[0].statistics_, np.float64)
    expected = pipeline.predict(test[numeric]) * test["exposure"]
    rmse = float(np.sqrt(np.mean((expected - test["claim_count"]) ** 2)))
    write_model(
        EXPOSURE_MODEL,
        onnx_model,
        {
            "name": "claims_exposure",
            "description": "Poisson regression of motor claim counts with a log(exposure) offset.",
            "targetType": "Regression",
            "targetName": "claim_count",
            "features": features,
            "exposure": {"column": "exposure", "link": "log"},
            "outputs": {"prediction": "variable"},
            "holdout": {"metric": "rmse", "value": round(rmse, 6)},
            "trainingStats": training_stats(train, features),
        },
        test[["policy_id", *numeric, "exposure"]].head(20),
        train[numeric],
    )


def write_training_dataset() -> None:
    """The full diabetes table with the binary target: what the retraining template trains on."""
    frame = diabetes_frame()
    frame["progression_high"] = (frame["progression"] > 140).astype(int)
    folder = ROOT / "datasets"
    folder.mkdir(exist_ok=True)
    frame.drop(columns=["progression"]).to_csv(folder / "diabetes_binary.csv", index=False)


# Example humility rules (reporting only); bounds left out come from the training statistics.
def rule(rule_id: int, name: str, trigger: str, **fields: Any) -> dict[str, Any]:
    return {"id": f"65f1c{rule_id:019d}", "name": name, "trigger": trigger, "action": "noOperation", **fields}


BINARY_RULES = [
    rule(1, "Uncertain Prediction Trigger", "uncertainPrediction", lower=0.45, upper=0.55),
    rule(2, "Low Observation Region: sex", "lowObservationRegion", feature="sex"),
]
REGRESSION_RULES = [
    rule(3, "Uncertain Prediction Trigger", "uncertainPrediction", lower=25, upper=346),
    rule(4, "Outlying Input: bmi", "outlyingInput", feature="bmi"),
]


def write_deployments() -> None:
    token_hash = hashlib.sha256(DEMO_TOKEN.encode()).hexdigest()
    document = {
        "tokens": {
            "demo": {
                "sha256": token_hash,
                "demo": True,
                "description": (
                    "Public demo token (see README); predictions only, and off in a deployed stack"
                    " unless DemoToken is true."
                ),
            }
        },
        "deployments": {
            BINARY_DEPLOYMENT: {
                "label": "Diabetes progression (binary)",
                "modelId": BINARY_MODEL,
                "tokens": ["demo"],
                "humilityRules": BINARY_RULES,
            },
            REGRESSION_DEPLOYMENT: {
                "label": "Diabetes progression (regression)",
                "modelId": REGRESSION_MODEL,
                "tokens": ["demo"],
                "humilityRules": REGRESSION_RULES,
            },
            MULTICLASS_DEPLOYMENT: {
                "label": "Iris species (multiclass)",
                "modelId": MULTICLASS_MODEL,
                "tokens": ["demo"],
            },
            TIMESERIES_DEPLOYMENT: {
                "label": "Daily sales per store (time series, 1-7 days ahead)",
                "modelId": TIMESERIES_MODEL,
                "tokens": ["demo"],
                "originalFormatTimestamp": True,
            },
            EXPOSURE_DEPLOYMENT: {
                "label": "Claim counts per policy (Poisson, exposure-adjusted)",
                "modelId": EXPOSURE_MODEL,
                "tokens": ["demo"],
            },
        },
    }
    header = "# Deployments served by the demo. Tokens are stored as SHA-256 digests only.\n"
    (ROOT / "deployments.yaml").write_text(header + yaml.safe_dump(document, sort_keys=False))


def main() -> None:
    global ROOT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="the bucket folder to write (default layers/models)")
    ROOT = parser.parse_args().out.resolve()
    ROOT.mkdir(parents=True, exist_ok=True)
    build_binary()
    build_regression()
    build_multiclass()
    write_training_dataset()
    build_timeseries()
    build_exposure()
    write_deployments()
    from monitoring_baselines import add_baselines  # drift baselines of the models just built

    add_baselines(ROOT)
    print(json.dumps({"written": str(ROOT.relative_to(Path.cwd()) if ROOT.is_relative_to(Path.cwd()) else ROOT)}))


if __name__ == "__main__":
    main()
