"""A stack with the demo turned off: the registry as read here has no demo token.

The bundled ``deployments.yaml`` names a public demo token (``demo: true``). Where the demo is
off (``DRC_DEMO_TOKEN=false``; a deployed stack's default), this view drops such tokens and their
scopes from every read of ``deployments.yaml``, so no process of the stack accepts the publicly
known token, and any write of the registry made through it leaves the token out too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from drcompat.deployments import DEPLOYMENTS_KEY
from drcompat.storage.base import Storage


def without_demo_tokens(data: bytes) -> bytes:
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError:
        return data  # the registry reports it as broken, as it would any broken file
    if not isinstance(document, dict) or not isinstance(document.get("tokens"), dict):
        return data
    demo = {name for name, entry in document["tokens"].items() if isinstance(entry, dict) and entry.get("demo")}
    if not demo:
        return data
    for name in demo:
        del document["tokens"][name]
    for entry in (document.get("deployments") or {}).values():
        if isinstance(entry, dict) and isinstance(entry.get("tokens"), list):
            entry["tokens"] = [t for t in entry["tokens"] if t not in demo]
    return yaml.safe_dump(document, sort_keys=False).encode()


class WithoutDemoTokens(Storage):
    """Every call goes to ``inner``; reads of deployments.yaml lose the demo tokens."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner

    def read(self, key: str) -> bytes:
        data = self.inner.read(key)
        return without_demo_tokens(data) if key == DEPLOYMENTS_KEY else data

    def stream(self, key: str, chunk_bytes: int = 1024 * 1024) -> Iterator[bytes]:
        if key == DEPLOYMENTS_KEY:
            return iter([self.read(key)])
        return self.inner.stream(key, chunk_bytes)

    def version(self, key: str) -> str | None:
        return self.inner.version(key)

    def write(self, key: str, data: bytes) -> None:
        self.inner.write(key, data)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def read_for_update(self, key: str) -> tuple[bytes | None, str | None]:
        data, precondition = self.inner.read_for_update(key)  # the precondition is the stored object's
        if data is not None and key == DEPLOYMENTS_KEY:
            data = without_demo_tokens(data)
        return data, precondition

    def write_if(self, key: str, data: bytes, precondition: str | None) -> None:
        self.inner.write_if(key, data, precondition)

    def list(self, prefix: str) -> list[str]:
        return self.inner.list(prefix)

    def __getattr__(self, name: str) -> Any:  # anything else a backend offers (downloads, ...)
        return getattr(self.inner, name)
