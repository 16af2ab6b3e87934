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


class ManagedCredentialStore(CredentialStore, Protocol):
    """What the credentials API needs: create, list and delete, with records that hold no secret."""

    def create(self, payload: dict[str, Any]) -> dict[str, Any]: ...

    def records(self) -> list[dict[str, Any]]: ...

    def delete(self, credential_id: str) -> None: ...

    def update(self, credential_id: str, changes: dict[str, Any]) -> dict[str, Any]: ...


TAG = "drcompat:"
PUBLIC_FIELDS = ("credentialId", "name", "credentialType", "description", "creationDate")


def public_record(payload: dict[str, Any]) -> dict[str, Any]:
    """A credential as the API shows it: identity and type, never a secret field."""
    return {k: payload.get(k, "" if k == "description" else None) for k in PUBLIC_FIELDS}


def new_credential(payload: dict[str, Any]) -> dict[str, Any]:
    """A checked payload with a server-assigned id and creation date."""
    import secrets
    import time
    from datetime import UTC, datetime

    name = payload.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise CredentialError("name must be a non-empty string of at most 255 characters.")
    fields = {k: v for k, v in payload.items() if v is not None and k not in ("credentialId", "creationDate")}
    problem = check_credential(fields)
    if problem:
        raise CredentialError(f"Credential {name!r}: {problem}.")
    return {
        **fields,
        "description": str(payload.get("description") or ""),
        "credentialId": f"{int(time.time()):08x}{secrets.token_hex(8)}",
        "creationDate": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


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

    def _find(self, data: dict[str, Any], name_or_id: str) -> str | None:
        if isinstance(data.get(name_or_id), dict):
            return name_or_id
        for name, entry in data.items():
            if isinstance(entry, dict) and entry.get("credentialId") == name_or_id:
                return str(name)
        return None

    def get(self, name: str) -> dict[str, Any]:
        """A credential by its name or its ``credentialId``."""
        data = self._load()
        found = self._find(data, name)
        if found is None:
            raise CredentialError(f"No credential named {name!r} in the credential store.")
        name, entry = found, data[found]
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
        self._save(data)

    def _save(self, data: dict[str, Any]) -> None:
        """Write a private temporary file and rename it over the store (mode 600 from the start)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(data, handle)
        os.replace(tmp, self.path)

    def create(self, payload: dict[str, Any]) -> dict[str, Any]:
        record = new_credential(payload)
        name = record.pop("name")
        data = self._load() if self.path.exists() else {}
        if name in data:
            raise CredentialError(f"A credential named {name!r} already exists.", status=409)
        data[name] = record
        self._save(data)
        return public_record({"name": name, **record})

    def records(self) -> list[dict[str, Any]]:
        data = self._load() if self.path.exists() else {}
        return [
            public_record({"name": name, **entry})
            for name, entry in data.items()
            if isinstance(entry, dict) and entry.get("credentialId")
        ]

    def delete(self, credential_id: str) -> None:
        data = self._load() if self.path.exists() else {}
        found = self._find(data, credential_id)
        if found is None or data[found].get("credentialId") != credential_id:
            raise CredentialError(f"Credential {credential_id} was not found.", status=404)
        del data[found]
        self._save(data)

    def update(self, credential_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        data = self._load() if self.path.exists() else {}
        found = self._find(data, credential_id)
        if found is None or data[found].get("credentialId") != credential_id:
            raise CredentialError(f"Credential {credential_id} was not found.", status=404)
        entry = {**data[found], **{k: v for k, v in changes.items() if k not in ("credentialId", "creationDate")}}
        name = str(entry.pop("name", found))
        problem = check_credential(entry)
        if problem:
            raise CredentialError(f"Credential {name!r}: {problem}.")
        if name != found and name in data:
            raise CredentialError(f"A credential named {name!r} already exists.", status=409)
        del data[found]
        data[name] = entry
        self._save(data)
        return public_record({"name": name, **entry})


class SecretsManagerCredentialStore:
    """Credentials as Secrets Manager secrets named ``<prefix><name>`` holding the same JSON
    mapping (boto3 imported only here, only when used)."""

    def __init__(self, prefix: str, endpoint_url: str | None = None, client: Any = None) -> None:
        if client is None:
            import boto3  # noqa: TID251 - the AWS side of the credential store

            client = boto3.client("secretsmanager", endpoint_url=endpoint_url)
        self.client = client
        self.prefix = prefix

    def _secret(self, name: str) -> dict[str, Any]:
        import json

        try:
            secret = self.client.get_secret_value(SecretId=self.prefix + name)
            entry = json.loads(secret["SecretString"])
        except self.client.exceptions.ResourceNotFoundException as exc:
            raise CredentialError(f"No credential named {name!r} in the credential store.") from exc
        except (KeyError, ValueError) as exc:
            raise CredentialError(f"Credential {name!r} is not a JSON mapping.") from exc
        if not isinstance(entry, dict):
            raise CredentialError(f"Credential {name!r} is not a JSON mapping.")
        return entry

    def _listed(self) -> list[dict[str, Any]]:
        """Our secrets with their tags (identity and type live in tags: no secret is read to list)."""
        found: list[dict[str, Any]] = []
        for page in self.client.get_paginator("list_secrets").paginate(
            Filters=[{"Key": "name", "Values": [self.prefix]}]
        ):
            found += [s for s in page.get("SecretList", []) if str(s.get("Name", "")).startswith(self.prefix)]
        return found

    @staticmethod
    def _tags(secret: dict[str, Any]) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in secret.get("Tags", []) if t.get("Key", "").startswith(TAG)}

    def _name_of(self, credential_id: str) -> str | None:
        for secret in self._listed():
            if self._tags(secret).get(f"{TAG}credentialId") == credential_id:
                return str(secret["Name"])[len(self.prefix) :]
        return None

    def get(self, name: str) -> dict[str, Any]:
        """A credential by its name or its ``credentialId``."""
        try:
            entry = self._secret(name)
        except CredentialError:
            by_id = self._name_of(name)
            if by_id is None:
                raise
            name, entry = by_id, self._secret(by_id)
        payload = {"name": name, "description": "", **entry}
        problem = check_credential(payload)
        if problem:
            raise CredentialError(f"Credential {name!r}: {problem}.")
        return payload

    def create(self, payload: dict[str, Any]) -> dict[str, Any]:
        import json

        record = new_credential(payload)
        name = record.pop("name")
        tags = [{"Key": f"{TAG}{k}", "Value": str(record[k])} for k in ("credentialId", "credentialType")]
        tags.append({"Key": f"{TAG}creationDate", "Value": record["creationDate"]})
        try:
            self.client.create_secret(
                Name=self.prefix + name,
                SecretString=json.dumps(record),
                Description=record["description"][:2048],
                Tags=tags,
            )
        except self.client.exceptions.ResourceExistsException as exc:
            raise CredentialError(f"A credential named {name!r} already exists.", status=409) from exc
        return public_record({"name": name, **record})

    def records(self) -> list[dict[str, Any]]:
        out = []
        for secret in self._listed():
            tags = self._tags(secret)
            if f"{TAG}credentialId" not in tags:
                continue
            out.append(
                public_record(
                    {
                        "name": str(secret["Name"])[len(self.prefix) :],
                        "description": secret.get("Description", ""),
                        **{k[len(TAG) :]: v for k, v in tags.items()},
                    }
                )
            )
        return out

    def delete(self, credential_id: str) -> None:
        name = self._name_of(credential_id)
        if name is None:
            raise CredentialError(f"Credential {credential_id} was not found.", status=404)
        self.client.delete_secret(SecretId=self.prefix + name, ForceDeleteWithoutRecovery=True)

    def update(self, credential_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        import json

        name = self._name_of(credential_id)
        if name is None:
            raise CredentialError(f"Credential {credential_id} was not found.", status=404)
        if changes.get("name") not in (None, name):
            raise CredentialError("Renaming a credential stored in Secrets Manager is not supported.")
        entry = {**self._secret(name), **{k: v for k, v in changes.items() if k not in PUBLIC_FIELDS[:1]}}
        entry.pop("name", None)
        problem = check_credential(entry)
        if problem:
            raise CredentialError(f"Credential {name!r}: {problem}.")
        self.client.put_secret_value(SecretId=self.prefix + name, SecretString=json.dumps(entry))
        return public_record({"name": name, **entry})


def managed_credential_store(settings: Settings) -> ManagedCredentialStore | None:
    """The store the credentials API writes: Secrets Manager in AWS, else the local file
    (created on first use, mode 600, outside the checkout)."""
    if settings.credentials_secret_prefix:
        return SecretsManagerCredentialStore(settings.credentials_secret_prefix, settings.secrets_endpoint_url)
    if settings.credentials_file is not None:
        return LocalCredentialStore(settings.credentials_file)
    return None


def credential_store(settings: Settings) -> CredentialStore | None:
    """Secrets Manager when a secret prefix is set, else the local file when one is set."""
    if settings.credentials_secret_prefix:
        return SecretsManagerCredentialStore(settings.credentials_secret_prefix, settings.secrets_endpoint_url)
    if settings.credentials_file is not None and settings.credentials_file.exists():
        return LocalCredentialStore(settings.credentials_file)
    return None
