"""Run tokens: a job working for a deployment gets an API token that opens that deployment only,
expires with the run's time limit, and is revoked when the run ends. Only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from drcompat.errors import NotFound
from drcompat.registry import update_registry
from drcompat.storage import Storage


def issue_run_token(storage: Storage, deployment_id: str, run_id: str, lifetime_seconds: float) -> tuple[str, str]:
    """(token name, token) scoped to ``deployment_id``."""
    token = secrets.token_urlsafe(32)
    name = f"run-{run_id}"

    def add(document: dict[str, Any]) -> None:
        deployment = (document.get("deployments") or {}).get(deployment_id)
        if deployment is None:
            raise NotFound(f"Deployment {deployment_id} was not found.")
        document.setdefault("tokens", {})[name] = {
            "sha256": hashlib.sha256(token.encode()).hexdigest(),
            "expiresAt": int(time.time() + lifetime_seconds + 60),
            "description": f"Run {run_id}: deployment {deployment_id} only, revoked when the run ends.",
        }
        deployment["tokens"] = [*(t for t in deployment.get("tokens", []) if t != name), name]

    update_registry(storage, add)
    return name, token


def revoke_run_token(storage: Storage, name: str) -> None:
    def remove(document: dict[str, Any]) -> None:
        (document.get("tokens") or {}).pop(name, None)
        for entry in (document.get("deployments") or {}).values():
            if name in entry.get("tokens", []):
                entry["tokens"] = [t for t in entry["tokens"] if t != name]

    update_registry(storage, remove)
