"""The deployment registry: deployment id -> model version, settings and the tokens that open it.

It lives in one ``deployments.yaml`` in storage. The registry re-reads it when its change token
moves (checked at most every ``ttl`` seconds), so publishing a new model version is a write of
that file and reaches a running process without a restart. A broken file never takes a serving
process down: the last good copy stays in force.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import yaml

from drcompat.errors import ModelError
from drcompat.humility import Rule, RuleError, parse_rules
from drcompat.models.metadata import OBJECT_ID
from drcompat.storage import Storage, StorageKeyError
from drcompat.yamlio import load_yaml

DEPLOYMENTS_KEY = "deployments.yaml"
SHA256_HEX = 64
log = logging.getLogger(__name__)


_local_writes = [0]  # registry writes made by this process (see note_local_write)


def note_local_write() -> None:
    """Called by the registry writer: every registry in this process re-reads on its next use,
    so a token is valid in the process that issued it as soon as it is written."""
    _local_writes[0] += 1


class RegistryError(ValueError):
    """deployments.yaml is unusable; the message names the entry."""


@dataclass(frozen=True)
class Deployment:
    id: str
    model_id: str
    label: str = ""
    tokens: frozenset[str] = frozenset()
    datarobot_key_sha256: str | None = None
    prediction_threshold: float | None = None
    humility_rules: tuple[Rule, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RegistrySnapshot:
    deployments: dict[str, Deployment]
    token_digests: dict[str, bytes]  # token name -> sha256 digest
    job_managers: frozenset[str] = frozenset()  # tokens that may use the custom-jobs API
    expiries: dict[str, float] = field(default_factory=dict)  # token name -> expiry (epoch seconds)
    deployment_managers: frozenset[str] = frozenset()  # tokens that may use the management API


def _hex_digest(value: Any, where: str) -> str:
    text = str(value or "").lower()
    if len(text) != SHA256_HEX or any(c not in "0123456789abcdef" for c in text):
        raise RegistryError(f"{where} must be a 64-character SHA-256 hex digest")
    return text


def _rules(raw: Any, where: str) -> tuple[Rule, ...]:
    try:
        return parse_rules(raw, where)
    except RuleError as exc:
        raise RegistryError(str(exc)) from exc


def check_integrity(doc: dict[str, Any]) -> None:
    """A document written by the registry writer ends with its counts; a cut-short copy lacks them."""
    integrity = doc.get("integrity")
    if integrity is None:
        if "revision" in doc:
            raise RegistryError("deployments.yaml is cut short: it has a revision but no closing integrity entry")
        return  # written by hand: nothing to check against
    if not isinstance(integrity, dict):
        raise RegistryError("integrity must be a mapping of counts")
    for part in ("deployments", "tokens"):
        found = len(doc.get(part) or {})
        if integrity.get(part) != found:
            raise RegistryError(
                f"deployments.yaml is inconsistent: integrity says {integrity.get(part)} {part}, the file has {found}"
            )


def parse_registry(doc: Any) -> RegistrySnapshot:
    """Validate the whole document; any bad entry rejects it (keeps the last good one in force)."""
    if not isinstance(doc, dict):
        raise RegistryError("deployments.yaml must be a mapping with 'deployments' and 'tokens'")
    check_integrity(doc)
    tokens: dict[str, bytes] = {}
    managers: set[str] = set()
    deployment_managers: set[str] = set()
    expiries: dict[str, float] = {}
    for name, entry in (doc.get("tokens") or {}).items():
        where = f"tokens.{name}.sha256"
        sha = entry.get("sha256") if isinstance(entry, dict) else None
        tokens[str(name)] = bytes.fromhex(_hex_digest(sha, where))
        manage = entry.get("manageJobs", False)
        if not isinstance(manage, bool):
            raise RegistryError(f"tokens.{name}.manageJobs must be true or false")
        if manage:
            managers.add(str(name))
        manage_deployments = entry.get("manageDeployments", False)
        if not isinstance(manage_deployments, bool):
            raise RegistryError(f"tokens.{name}.manageDeployments must be true or false")
        if manage_deployments:
            deployment_managers.add(str(name))
        expires = entry.get("expiresAt")
        if expires is not None:
            if not isinstance(expires, int | float) or isinstance(expires, bool):
                raise RegistryError(f"tokens.{name}.expiresAt must be a number of epoch seconds")
            expiries[str(name)] = float(expires)
    deployments: dict[str, Deployment] = {}
    for key, entry in (doc.get("deployments") or {}).items():
        dep_id = str(key)
        if not OBJECT_ID.match(dep_id):
            raise RegistryError(f"deployment id {dep_id!r} must be a 24-character lowercase hex ObjectId")
        if not isinstance(entry, dict):
            raise RegistryError(f"deployments.{dep_id} must be a mapping")
        model_id = str(entry.get("modelId", ""))
        if not OBJECT_ID.match(model_id):
            raise RegistryError(f"deployments.{dep_id}.modelId must be a 24-character hex ObjectId")
        scoped = entry.get("tokens") or []
        unknown = [t for t in scoped if str(t) not in tokens]
        if unknown:
            raise RegistryError(f"deployments.{dep_id}.tokens names unknown tokens: {', '.join(map(str, unknown))}")
        key_sha = entry.get("datarobotKeySha256")
        threshold = entry.get("predictionThreshold")
        if threshold is not None and not (isinstance(threshold, int | float) and 0 <= threshold <= 1):
            raise RegistryError(f"deployments.{dep_id}.predictionThreshold must be a number in [0, 1]")
        deployments[dep_id] = Deployment(
            id=dep_id,
            model_id=model_id,
            label=str(entry.get("label", "")),
            tokens=frozenset(str(t) for t in scoped),
            datarobot_key_sha256=_hex_digest(key_sha, f"deployments.{dep_id}.datarobotKeySha256") if key_sha else None,
            prediction_threshold=float(threshold) if threshold is not None else None,
            humility_rules=_rules(entry.get("humilityRules"), f"deployments.{dep_id}"),
            settings={
                k: v
                for k, v in entry.items()
                if k not in {"label", "modelId", "tokens", "datarobotKeySha256", "humilityRules"}
            },
        )
    return RegistrySnapshot(
        deployments=deployments,
        token_digests=tokens,
        job_managers=frozenset(managers),
        expiries=expiries,
        deployment_managers=frozenset(deployment_managers),
    )


class DeploymentRegistry:
    def __init__(self, storage: Storage, ttl_seconds: float = 1.0) -> None:
        self.storage = storage
        self.ttl = ttl_seconds
        self._lock = threading.Lock()
        self._snapshot: RegistrySnapshot | None = None
        self._version: str | None = None
        self._checked_at = float("-inf")
        self._writes_seen = -1

    def snapshot(self) -> RegistrySnapshot:
        now = time.monotonic()
        writes = _local_writes[0]
        if self._snapshot is not None and now - self._checked_at < self.ttl and writes == self._writes_seen:
            return self._snapshot
        with self._lock:
            if self._snapshot is None or now - self._checked_at >= self.ttl or writes != self._writes_seen:
                self._refresh()
                self._checked_at = now
                self._writes_seen = writes
        if self._snapshot is None:
            raise ModelError("The deployment registry is unavailable.", status=503)
        return self._snapshot

    def reload(self) -> RegistrySnapshot:
        """Re-read now: the process that just wrote the registry sees its write at once."""
        with self._lock:
            self._refresh()
            self._checked_at = time.monotonic()
            self._writes_seen = _local_writes[0]
        return self.snapshot()

    def _refresh(self) -> None:
        doc: Any = None
        try:
            version = self.storage.version(DEPLOYMENTS_KEY)
            if version is not None and version == self._version and self._snapshot is not None:
                return
            doc = load_yaml(self.storage.read(DEPLOYMENTS_KEY))
            snapshot = parse_registry(doc)
        except (StorageKeyError, yaml.YAMLError, RegistryError) as exc:
            log.error("deployments.yaml rejected, keeping the last good copy: %s", exc)
            self._log_missing(doc)
            return
        except Exception as exc:  # a remote store that is briefly unreachable
            log.error("deployments.yaml unreadable (%s), keeping the last good copy", type(exc).__name__)
            return
        self._snapshot, self._version = snapshot, version

    def _log_missing(self, doc: Any) -> None:
        """Name the deployments a rejected copy would have dropped (a cut-short file, say)."""
        if self._snapshot is None:
            return
        present = set((doc.get("deployments") or {}) if isinstance(doc, dict) else ())
        missing = sorted(set(self._snapshot.deployments) - {str(d) for d in present})
        if missing:
            log.error("the rejected deployments.yaml lacks deployments %s; they keep serving", ", ".join(missing))
