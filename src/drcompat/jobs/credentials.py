"""The credential store: named credentials (basic, azure, gcp, s3, api_token) that runtime
parameters reference by name. Locally a YAML file readable by its owner only; in AWS the same
interface can sit on Secrets Manager."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from drcompat.errors import BadRequest

if TYPE_CHECKING:
    from drcompat.config import Settings

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


class SecretsManagerCredentialStore:
    """Credentials as Secrets Manager secrets named ``<prefix><name>`` holding the same JSON
    mapping (boto3 imported only here, only when used)."""

    def __init__(self, prefix: str, endpoint_url: str | None = None, client: Any = None) -> None:
        if client is None:
            import boto3  # noqa: TID251 - the AWS side of the credential store

            client = boto3.client("secretsmanager", endpoint_url=endpoint_url)
        self.client = client
        self.prefix = prefix

    def get(self, name: str) -> dict[str, Any]:
        import json

        try:
            secret = self.client.get_secret_value(SecretId=self.prefix + name)
            entry = json.loads(secret["SecretString"])
        except self.client.exceptions.ResourceNotFoundException as exc:
            raise CredentialError(f"No credential named {name!r} in the credential store.") from exc
        except (KeyError, ValueError) as exc:
            raise CredentialError(f"Credential {name!r} is not a JSON mapping.") from exc
        payload = {"name": name, "description": "", **entry}
        problem = check_credential(payload)
        if problem:
            raise CredentialError(f"Credential {name!r}: {problem}.")
        return payload


def credential_store(settings: Settings) -> CredentialStore | None:
    """Secrets Manager when a secret prefix is set, else the local file when one is set."""
    if settings.credentials_secret_prefix:
        return SecretsManagerCredentialStore(settings.credentials_secret_prefix, settings.secrets_endpoint_url)
    if settings.credentials_file is not None and settings.credentials_file.exists():
        return LocalCredentialStore(settings.credentials_file)
    return None
