"""API tokens: create (the secret is printed once), list, scope to deployments, revoke."""

from __future__ import annotations

import argparse

from drcompat.registry.service import RegistryService


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="a new token; its secret is shown once, only its digest is stored")
    create.add_argument("name")
    create.add_argument("--deployment", action="append", default=[], help="a deployment it may use (repeatable)")
    create.add_argument("--manage-deployments", action="store_true", help="may use the management API")
    create.add_argument("--manage-jobs", action="store_true", help="may use the custom-jobs API")
    create.add_argument("--description", default="")
    create.set_defaults(run=create_token)
    listed = commands.add_parser("list", help="tokens, their flags and deployments (never secrets)")
    listed.set_defaults(run=list_tokens)
    scope = commands.add_parser("scope", help="open or close deployments to a token")
    scope.add_argument("name")
    scope.add_argument("--add", action="append", default=[], metavar="DEPLOYMENT_ID")
    scope.add_argument("--remove", action="append", default=[], metavar="DEPLOYMENT_ID")
    scope.set_defaults(run=scope_token)
    revoke = commands.add_parser("revoke", help="delete a token; it stops working")
    revoke.add_argument("name")
    revoke.set_defaults(run=revoke_token)


def create_token(registry: RegistryService, args: argparse.Namespace) -> int:
    secret, record = registry.create_token(
        args.name, args.deployment, args.manage_deployments, args.manage_jobs, args.description
    )
    print(secret)
    print(f"token {record.name!r} created; the secret above is shown once (only its SHA-256 is stored)")
    return 0


def list_tokens(registry: RegistryService, args: argparse.Namespace) -> int:
    for record in registry.list_tokens():
        flags = [
            f for f, on in (("manageDeployments", record.manage_deployments), ("manageJobs", record.manage_jobs)) if on
        ]
        print(f"{record.name}  [{', '.join(flags)}]  {', '.join(record.deployments) or '-'}")
    return 0


def scope_token(registry: RegistryService, args: argparse.Namespace) -> int:
    record = registry.scope_token(args.name, args.add, args.remove)
    print(f"{record.name}: {', '.join(record.deployments) or 'no deployments'}")
    return 0


def revoke_token(registry: RegistryService, args: argparse.Namespace) -> int:
    registry.revoke_token(args.name)
    print(f"revoked {args.name}")
    return 0
