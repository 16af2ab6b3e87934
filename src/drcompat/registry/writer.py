"""Read-modify-write of ``deployments.yaml`` without lost updates, across threads, processes and
containers: the document is read with a precondition (a content hash under a file lock locally,
the ETag in S3), changed by a pure function, validated, and written only if nobody wrote in
between (S3 conditional writes); on a conflict the whole step runs again on the fresh document.

Every written document carries ``revision`` first and ``integrity`` (its counts) last, so a file
cut short at a line boundary, still valid YAML, is refused by readers instead of silently
dropping deployments (see ``deployments.parse_registry``).
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import yaml

from drcompat.deployments import DEPLOYMENTS_KEY, RegistryError, note_local_write, parse_registry
from drcompat.errors import ApiError
from drcompat.storage import Storage, StorageConflict
from drcompat.yamlio import load_yaml

R = TypeVar("R")
ATTEMPTS = 50


class RegistryConflict(ApiError):
    """Too many concurrent writers: the client may retry."""

    status = 409


def seal(document: dict[str, Any], revision: int) -> dict[str, Any]:
    """The document as written: ``revision`` first, the content, ``integrity`` last."""
    body = {k: v for k, v in document.items() if k not in ("revision", "integrity")}
    deployments = body.get("deployments") or {}
    tokens = body.get("tokens") or {}
    return {
        "revision": revision,
        **body,
        "integrity": {"deployments": len(deployments), "tokens": len(tokens)},
    }


def update_registry(
    storage: Storage,
    mutate: Callable[[dict[str, Any]], R],
    *,
    removing: Iterable[str] = (),
    attempts: int = ATTEMPTS,
) -> R:
    """Apply ``mutate`` (edits the document in place, returns a value) and write it atomically.

    ``mutate`` may run more than once (after a conflict), always on a fresh copy; raising an
    ApiError aborts with nothing written. Deployments that disappear must be named in
    ``removing``, so no write can drop one by accident.
    """
    allowed = {str(r) for r in removing}
    for attempt in range(attempts):
        raw, precondition = storage.read_for_update(DEPLOYMENTS_KEY)
        current = load_yaml(raw) if raw is not None else None
        if current is None:
            current = {"deployments": {}, "tokens": {}}
        if not isinstance(current, dict):
            raise RegistryError("deployments.yaml must be a mapping with 'deployments' and 'tokens'")
        parse_registry(current)  # never build on a registry the service would reject
        document = copy.deepcopy(current)
        result = mutate(document)
        lost = set(current.get("deployments") or {}) - set(document.get("deployments") or {}) - allowed
        if lost:
            raise RegistryError(f"refusing to drop deployments {', '.join(sorted(map(str, lost)))}")
        sealed = seal(document, int(current.get("revision") or 0) + 1)
        parse_registry(sealed)
        try:
            storage.write_if(DEPLOYMENTS_KEY, yaml.safe_dump(sealed, sort_keys=False).encode(), precondition)
        except StorageConflict:
            time.sleep(random.uniform(0, 0.005 * min(attempt + 1, 20)))  # noqa: S311 - jitter, not crypto
            continue
        note_local_write()
        return result
    raise RegistryConflict("The deployment registry is busy with other changes; retry the request.")
