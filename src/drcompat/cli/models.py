"""Import a model version: an ONNX file, or a pickled scikit-learn pipeline (optional extra)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from drcompat.registry.importer import ImportSpec, coerce_labels
from drcompat.registry.service import RegistryService

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True)
    imported = commands.add_parser("import", help="check, rehearse and store a model version; prints its id")
    imported.add_argument("file", type=Path, help="model.onnx, or a .pkl/.joblib pipeline")
    imported.add_argument("--sample", type=Path, required=True, help="training data sample (CSV)")
    imported.add_argument("--target-name", required=True)
    imported.add_argument("--target-type", choices=["Regression", "Binary", "Multiclass"], help="ONNX only")
    imported.add_argument("--class-labels", help="comma-separated, in the probability columns' order (ONNX only)")
    imported.add_argument("--positive-class", help="Binary: the positive class (default: the second label)")
    imported.add_argument("--threshold", type=float, help="Binary: the prediction threshold (default 0.5)")
    imported.add_argument("--name", default="")
    imported.add_argument("--description", default="")
    imported.add_argument("--deploy", metavar="LABEL", help="also create a deployment with this label")
    imported.add_argument("--token", action="append", default=[], help="with --deploy: a token that may use it")
    imported.set_defaults(run=import_model)
    listed = commands.add_parser("list", help="the stored model versions")
    listed.set_defaults(run=list_models)


def import_model(registry: RegistryService, args: argparse.Namespace) -> int:
    payload = args.file.read_bytes()
    sample = args.sample.read_bytes()
    common: dict[str, Any] = {
        "positive_class_label": args.positive_class,
        "prediction_threshold": args.threshold,
        "name": args.name or args.file.stem,
        "description": args.description,
    }
    if args.file.suffix.lower() in PICKLE_SUFFIXES:
        from drcompat.registry.sklearn_import import convert_pipeline

        payload, spec = convert_pipeline(payload, sample, args.target_name, **common)
    else:
        labels = coerce_labels(args.class_labels.split(",")) if args.class_labels else ()
        spec = ImportSpec(
            target_type=args.target_type or "", target_name=args.target_name, class_labels=labels, **common
        )
    meta = registry.import_model(payload, sample, spec)
    result: dict[str, Any] = {
        "modelId": meta.model_id,
        "targetType": meta.target_type.value,
        "features": [f"{f.name} ({f.type})" for f in meta.features],
        "holdout": meta.raw.get("holdout"),
    }
    if args.deploy:
        result["deploymentId"] = registry.create_deployment(meta.model_id, {"label": args.deploy}, args.token)
    print(json.dumps(result, indent=2, default=str))
    return 0


def list_models(registry: RegistryService, args: argparse.Namespace) -> int:
    for meta in registry.list_models():
        print(f"{meta.model_id}  {meta.target_type.value:<10}  {meta.name}")
    return 0
