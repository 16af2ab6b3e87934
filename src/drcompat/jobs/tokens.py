"""Run tokens: a job working for a deployment gets an API token that opens that deployment only,
expires with the run's time limit, and is revoked when the run ends. Only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

import yaml

from drcompat.deployments import DEPLOYMENTS_KEY, parse_registry
from drcompat.storage import Storage
from drcompat.yamlio import load_yaml

_registry_lock = threading.Lock()  # one writer of deployments.yaml per process


def issue_run_token(storage: Storage, deployment_id: str, run_id: str, lifetime_seconds: float) -> tuple[str, str]:
    """(token name, token) scoped to ``deployment_id``."""
    token = secrets.token_urlsafe(32)
    name = f"run-{run_id}"
    with _registry_lock:
        document = load_yaml(storage.read(DEPLOYMENTS_KEY))
        document.setdefault("tokens", {})[name] = {
            "sha256": hashlib.sha256(token.encode()).hexdigest(),
            "expiresAt": int(time.time() + lifetime_seconds + 60),
            "description": f"Run {run_id}: deployment {deployment_id} only, revoked when the run ends.",
        }
        deployment = document["deployments"][deployment_id]
        deployment["tokens"] = [*deployment.get("tokens", []), name]
        parse_registry(document)
        storage.write(DEPLOYMENTS_KEY, yaml.safe_dump(document, sort_keys=False).encode())
    return name, token


def revoke_run_token(storage: Storage, name: str) -> None:
    with _registry_lock:
        document = load_yaml(storage.read(DEPLOYMENTS_KEY))
        document.get("tokens", {}).pop(name, None)
        for entry in (document.get("deployments") or {}).values():
            if name in entry.get("tokens", []):
                entry["tokens"] = [t for t in entry["tokens"] if t != name]
        storage.write(DEPLOYMENTS_KEY, yaml.safe_dump(document, sort_keys=False).encode())
