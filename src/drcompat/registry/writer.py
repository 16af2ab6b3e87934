"""Provisional stand-in for the lead's registry writer (replaced by main's on merge).

Same contract: ``mutate`` edits the parsed deployments.yaml document in place and returns a value;
an ApiError aborts with nothing written; the result is validated with ``parse_registry``; any
deployment that disappears must be named in ``removing``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import yaml

from drcompat.deployments import DEPLOYMENTS_KEY, RegistryError, parse_registry
from drcompat.errors import BadRequest
from drcompat.storage import Storage
from drcompat.yamlio import load_yaml

R = TypeVar("R")
_lock = threading.Lock()


def update_registry(storage: Storage, mutate: Callable[[dict[str, Any]], R], *, removing: Iterable[str] = ()) -> R:
    with _lock:
        document = load_yaml(storage.read(DEPLOYMENTS_KEY))
        before = set((document.get("deployments") or {}).keys())
        result = mutate(document)
        gone = before - set((document.get("deployments") or {}).keys())
        if gone - set(removing):
            raise RuntimeError(f"deployments removed without being named: {sorted(gone - set(removing))}")
        try:
            parse_registry(document)
        except RegistryError as exc:
            raise BadRequest(str(exc)) from exc
        storage.write(DEPLOYMENTS_KEY, yaml.safe_dump(document, sort_keys=False).encode())
        return result
