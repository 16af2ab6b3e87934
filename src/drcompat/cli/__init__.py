"""``drcompat``: one command line over the registry, one module per resource.

    drcompat models import model.onnx --sample train.csv --target-type Binary --target-name y --class-labels no,yes
    drcompat models import pipeline.pkl --sample train.csv --target-name y     (pip install 'drcompat[sklearn]')
    drcompat deployments create MODEL_ID --label "My model" --token demo
    drcompat tokens create my-app --deployment DEPLOYMENT_ID

It writes the same storage the service reads (``DRC_STORAGE_*`` settings, or ``--storage-root``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from drcompat.cli import deployments, models, tokens
from drcompat.config import Settings
from drcompat.errors import ApiError
from drcompat.registry.service import RegistryService
from drcompat.storage import storage_from_settings

RESOURCES = {"models": models, "deployments": deployments, "tokens": tokens}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drcompat", description="Import models, deploy them, manage API tokens.")
    parser.add_argument("--storage-root", type=Path, help="the local bucket folder (default: DRC_STORAGE_ROOT)")
    resources = parser.add_subparsers(dest="resource", required=True)
    for name, module in RESOURCES.items():
        module.add_commands(resources.add_parser(name, help=module.__doc__.splitlines()[0] if module.__doc__ else None))
    args = parser.parse_args(argv)
    settings = Settings(storage_root=args.storage_root) if args.storage_root else Settings()
    registry = RegistryService(storage_from_settings(settings))
    try:
        return int(args.run(registry, args))
    except ApiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename}", file=sys.stderr)
        return 2
