"""The credential store: named credentials (basic, azure, gcp, s3, api_token) that runtime
parameters reference by name. Locally a YAML file readable by its owner only; in AWS the same
interface can sit on Secrets Manager."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Protocol

import yaml

from drcompat.errors import BadRequest

REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "basic": ("user", "password"),
    "azure": ("azureConnectionString",),
    "gcp": ("gcpKey",),
    "s3": ("awsAccessKeyId", "awsSecretAccessKey"),
    "api_token": ("apiToken",),
}


class CredentialError(BadRequest):
    """A credential is missing, malformed, or its store is unsafe."""


class CredentialStore(Protocol):
    def get(self, name: str) -> dict[str, Any]: ...


def check_credential(payload: dict[str, Any]) -> str | None:
    """What is wrong with a credential payload, or None."""
    kind = payload.get("credentialType")
    if kind not in REQUIRED_FIELDS:
        return f"credentialType must be one of {', '.join(REQUIRED_FIELDS)}"
    missing = [f for f in REQUIRED_FIELDS[kind] if not payload.get(f)]
    if missing:
        return f"a {kind} credential needs {', '.join(missing)}"
    return None


class LocalCredentialStore:
    """``name: {credentialType: ..., fields...}`` in one YAML file with mode 0600 (refused if
    group or others can read it)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def _load(self) -> dict[str, Any]:
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError as exc:
            raise CredentialError(f"The credential store {self.path.name} does not exist.") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CredentialError(
                f"The credential store {self.path.name} is readable by others; run: chmod 600 {self.path.name}"
            )
        try:
            data = yaml.safe_load(self.path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise CredentialError(f"The credential store {self.path.name} is not valid YAML.") from exc
        if not isinstance(data, dict):
            raise CredentialError(f"The credential store {self.path.name} must map names to credentials.")
        return data

    def get(self, name: str) -> dict[str, Any]:
        entry = self._load().get(name)
        if not isinstance(entry, dict):
            raise CredentialError(f"No credential named {name!r} in the credential store.")
        payload = {"name": name, "description": "", **entry}
        problem = check_credential(payload)
        if problem:
            raise CredentialError(f"Credential {name!r}: {problem}.")
        return payload

    def put(self, name: str, payload: dict[str, Any]) -> None:
        problem = check_credential(payload)
        if problem:
            raise CredentialError(f"Credential {name!r}: {problem}.")
        data = self._load() if self.path.exists() else {}
        data[name] = payload
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(data, handle)
        os.chmod(self.path, 0o600)
