"""Create, list, replace the model of, and delete deployments."""

from __future__ import annotations

import argparse

from drcompat.registry.service import RegistryService


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="deploy a model version; prints the deployment id")
    create.add_argument("model_id")
    create.add_argument("--label", required=True)
    create.add_argument("--description")
    create.add_argument("--importance", choices=["CRITICAL", "HIGH", "MODERATE", "LOW"])
    create.add_argument("--token", action="append", default=[], help="a token that may use it (repeatable)")
    create.set_defaults(run=create_deployment)
    listed = commands.add_parser("list", help="deployments, their model and tokens")
    listed.set_defaults(run=list_deployments)
    replace = commands.add_parser("replace-model", help="switch to another model version (retraining's checks)")
    replace.add_argument("deployment_id")
    replace.add_argument("model_id")
    replace.set_defaults(run=replace_model)
    delete = commands.add_parser("delete", help="remove a deployment (its model versions stay)")
    delete.add_argument("deployment_id")
    delete.set_defaults(run=delete_deployment)


def create_deployment(registry: RegistryService, args: argparse.Namespace) -> int:
    fields = {"label": args.label, "description": args.description, "importance": args.importance}
    print(registry.create_deployment(args.model_id, fields, args.token))
    return 0


def list_deployments(registry: RegistryService, args: argparse.Namespace) -> int:
    for record in registry.list_deployments():
        kind = record.model.target_type.value if record.model else "unreadable"
        print(f"{record.id}  {record.model_id}  {kind:<10}  {record.label}")
    return 0


def replace_model(registry: RegistryService, args: argparse.Namespace) -> int:
    outcome = registry.replace_model(args.deployment_id, args.model_id)
    print(("replaced: " if outcome.accepted else "rejected: ") + outcome.reason)
    return 0 if outcome.accepted else 1


def delete_deployment(registry: RegistryService, args: argparse.Namespace) -> int:
    registry.delete_deployment(args.deployment_id)
    print(f"deleted {args.deployment_id}")
    return 0
