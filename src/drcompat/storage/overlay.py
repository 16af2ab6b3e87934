"""Bundled models (the Lambda layer) under the bucket: one storage that reads from both.

Model files are immutable per model id, so a model the layer already holds is read from the
layer (no download); everything else (``deployments.yaml`` above all) comes from the bucket first
and falls back to the layer, so a fresh stack serves the bundled demo before anything is uploaded.
Writes go to the bucket.
"""

from __future__ import annotations

from collections.abc import Iterator

from drcompat.storage.base import Storage, StorageConflict, StorageKeyError
from drcompat.storage.s3 import IMMUTABLE_PREFIX


class OverlayStorage(Storage):
    def __init__(self, upper: Storage, lower: Storage) -> None:
        self.upper = upper
        self.lower = lower

    def _order(self, key: str) -> tuple[Storage, Storage]:
        return (self.lower, self.upper) if key.startswith(IMMUTABLE_PREFIX) else (self.upper, self.lower)

    def read(self, key: str) -> bytes:
        first, second = self._order(key)
        try:
            return first.read(key)
        except StorageKeyError:
            return second.read(key)

    def stream(self, key: str, chunk_bytes: int = 1024 * 1024) -> Iterator[bytes]:
        first, second = self._order(key)
        try:
            return first.stream(key, chunk_bytes)
        except StorageKeyError:
            return second.stream(key, chunk_bytes)

    def version(self, key: str) -> str | None:
        first, second = self._order(key)
        found = first.version(key)
        return found if found is not None else second.version(key)

    def write(self, key: str, data: bytes) -> None:
        self.upper.write(key, data)

    def delete(self, key: str) -> None:
        self.upper.delete(key)  # the lower layer is read-only

    def read_for_update(self, key: str) -> tuple[bytes | None, str | None]:
        """The upper object when there is one; else the lower's bytes, on condition upper stays absent."""
        data, precondition = self.upper.read_for_update(key)
        if data is not None:
            return data, f"upper:{precondition}"
        try:
            return self.lower.read(key), "lower:"
        except StorageKeyError:
            return None, None

    def write_if(self, key: str, data: bytes, precondition: str | None) -> None:
        if precondition is None:
            if self.lower.version(key) is not None:
                raise StorageConflict(key)
            self.upper.write_if(key, data, None)
        elif precondition == "lower:":
            self.upper.write_if(key, data, None)
        elif precondition.startswith("upper:"):
            self.upper.write_if(key, data, precondition.removeprefix("upper:"))
        else:
            raise StorageConflict(key)

    def list(self, prefix: str) -> list[str]:
        return sorted(set(self.upper.list(prefix)) | set(self.lower.list(prefix)))
