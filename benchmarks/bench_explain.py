"""Prediction explanations: our time per row against the shap library, and their agreement.

For each demo model and 1, 100 and 1,000 rows, prints the time per row of a whole
predictionExplanations request through the service in-process (parse, score, explain every
feature, encode), next to ``shap.Explainer`` (auto: its exact explainer up to 10 features) on the
same ONNX model and the same stored background, and how often the two agree on each row's top-3
features (mean overlap of the top-3 sets, and the share of rows with the identical set).
``shap`` is a benchmark and test dependency only.

    make bench-explain       # or: python benchmarks/bench_explain.py --rows 1 100
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import orjson
import pandas as pd
import shap
import yaml

from drcompat.config import Settings
from drcompat.predict import PredictionRequest, PredictionService

ROOT = Path(__file__).resolve().parent.parent
BUCKET = ROOT / "layers" / "models"
TOKEN = "Bearer demo-token-0123456789abcdef"  # the documented public demo token
MODELS = {
    "binary (GBM pipeline, 10 features)": ("65f1a0000000000000000001", "65f1b0000000000000000001"),
    "regression (ridge, 9 features)": ("65f1a0000000000000000002", "65f1b0000000000000000002"),
    "multiclass (logistic, 4 features)": ("65f1a0000000000000000003", "65f1b0000000000000000003"),
}


def rows_for(model_folder: Path, names: list[str], n: int) -> pd.DataFrame:
    """n rows drawn from the model's sample file with a little noise (distinct rows)."""
    sample = pd.read_csv(BUCKET / "samples" / f"{model_name(model_folder)}.csv", dtype={"sex": str})[names]
    frame = sample.sample(n, replace=True, random_state=11).reset_index(drop=True)
    numeric = [c for c in names if c != "sex"]
    noise = np.random.default_rng(11).uniform(0.95, 1.05, size=(n, len(numeric)))
    frame[numeric] = (frame[numeric] * noise).round(4)
    return frame


def model_name(model_folder: Path) -> str:
    return str(yaml.safe_load((model_folder / "model.yaml").read_text())["name"])


class ShapReference:
    """shap over the same ONNX session and background; categoricals coded as numbers for its masker."""

    def __init__(self, folder: Path, names: list[str], target: str, classes: np.ndarray | None) -> None:
        self.session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
        self.names = names
        self.categories = {c: np.array(["female", "male"], dtype=object) for c in names if c == "sex"}
        self.inputs = {i.name: i.type for i in self.session.get_inputs()}
        self.target = target
        self.classes = classes
        background = pd.read_csv(folder / "background.csv", dtype={"sex": str})[names]
        self.explainer = shap.Explainer(
            self.output, shap.maskers.Independent(self.encode(background), max_samples=len(background))
        )

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        coded = frame.copy()
        for name, values in self.categories.items():
            coded[name] = pd.Categorical(frame[name], categories=values).codes
        return coded.to_numpy(np.float64)

    def feeds(self, x: np.ndarray) -> dict[str, np.ndarray]:
        if len(self.inputs) == 1:
            name, kind = next(iter(self.inputs.items()))
            return {name: x.astype(np.float64 if kind == "tensor(double)" else np.float32)}
        feeds = {}
        for j, name in enumerate(self.names):
            column = x[:, j]
            feeds[name] = (
                self.categories[name][column.astype(int)] if name in self.categories else column.astype(np.float32)
            ).reshape(-1, 1)
        return feeds

    def output(self, x: np.ndarray) -> np.ndarray:
        result = self.session.run(None, self.feeds(x))
        if self.target == "Regression":
            return np.asarray(result[0]).reshape(-1)
        probabilities = np.asarray(result[-1])
        if self.target == "Binary":
            return probabilities[:, 1]
        return probabilities[:, int(self.current_class)]

    current_class = 0


def top3(strengths: np.ndarray) -> np.ndarray:
    return np.argsort(-np.abs(strengths), axis=1)[:, :3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--shap-max-rows", type=int, default=1000, help="cap shap's share (it is slow)")
    args = parser.parse_args()
    service = PredictionService(Settings(storage_root=BUCKET, explain_max_evaluations=10**9))
    service.warm()
    header = f"{'model':36} {'rows':>5} | {'ours ms/row':>11} {'shap ms/row':>11} {'speed-up':>9} | "
    print(header + f"{'top-3 overlap':>13} {'same top-3':>10}  method")
    for label, (deployment, model_id) in MODELS.items():
        folder = BUCKET / "models" / model_id
        meta = yaml.safe_load((folder / "model.yaml").read_text())
        names = [f["name"] for f in meta["features"]]
        for n in args.rows:
            frame = rows_for(folder, names, n)
            body = frame.to_csv(index=False).encode()
            request = PredictionRequest(
                deployment, body, "text/csv", authorization=TOKEN, query=[("maxExplanations", str(len(names)))]
            )
            service.explain(request)  # warm-up
            timings = []
            for _ in range(max(3, 200 // n)):  # small batches: the median of many requests
                started = time.perf_counter()
                content = service.explain(request)[0]
                timings.append(time.perf_counter() - started)
            ours = float(np.median(timings)) / n
            answer = orjson.loads(content)["data"]
            strengths = np.array(
                [[{e["feature"]: e["strength"] for e in r["predictionExplanations"]}[c] for c in names] for r in answer]
            )
            m = min(n, args.shap_max_rows)
            reference = ShapReference(folder, names, meta["targetType"], None)
            coded = reference.encode(frame.head(m))
            labels = meta.get("classLabels") or []
            predicted = [labels.index(r["prediction"]) if labels else 0 for r in answer[:m]]

            def run_shap(
                reference: ShapReference = reference,
                coded: np.ndarray = coded,
                predicted: list = predicted,
                multiclass: bool = meta["targetType"] == "Multiclass",
                width: int = len(names),
            ) -> np.ndarray:
                if not multiclass:
                    return np.asarray(reference.explainer(coded, silent=True).values)
                values = np.zeros((len(coded), width))
                for k in sorted(set(predicted)):  # one explainer pass per predicted class
                    reference.current_class = k
                    chosen = [i for i, p in enumerate(predicted) if p == k]
                    values[chosen] = reference.explainer(coded[chosen], silent=True).values
                return values

            if m <= 100:
                run_shap()  # warm-up: shap compiles on first use; the large run amortises it
            started = time.perf_counter()
            shap_values = run_shap()
            theirs = (time.perf_counter() - started) / m
            a, b = top3(strengths[:m]), top3(shap_values)
            overlap = np.mean([len(set(x) & set(y)) / 3 for x, y in zip(a, b, strict=True)])
            same = np.mean([set(x) == set(y) for x, y in zip(a, b, strict=True)])
            method = "exact" if len(names) <= 6 else "sampled"
            print(
                f"{label:36} {n:>5} | {ours * 1e3:>11.3f} {theirs * 1e3:>11.3f} {theirs / ours:>8.1f}x | "
                f"{overlap:>13.3f} {same:>10.3f}  {method}",
                flush=True,
            )


if __name__ == "__main__":
    main()
