"""The storage interface every backend fills in: read, write, list and a cheap change token."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator


class StorageKeyError(KeyError):
    """The key does not exist in the store."""


class StorageLimitError(ValueError):
    """An object is larger than this process may hold (or than the free disk space)."""


class StorageConflict(RuntimeError):
    """A conditional write lost: the object changed since it was read (read it again, retry)."""


class Storage(ABC):
    """Keys are ``/``-separated relative paths, identical for every backend."""

    @abstractmethod
    def read(self, key: str) -> bytes:
        """The whole object; raises StorageKeyError when it is absent."""

    @abstractmethod
    def version(self, key: str) -> str | None:
        """A token that changes whenever the object changes (mtime+size, ETag); None if absent."""

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Replace the object atomically: readers see the old bytes or the new, never a mix."""

    @abstractmethod
    def read_for_update(self, key: str) -> tuple[bytes | None, str | None]:
        """The object (None if absent) and a precondition for ``write_if`` (None: must stay absent)."""

    @abstractmethod
    def write_if(self, key: str, data: bytes, precondition: str | None) -> None:
        """Write only if the object is still as ``read_for_update`` saw it; else StorageConflict.

        This is how writers in other processes and containers never lose each other's updates.
        """

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Keys under a prefix, sorted."""

    def delete(self, key: str) -> None:
        """Remove the object; absent is fine (deleting a job removes what it left)."""
        raise NotImplementedError(f"{type(self).__name__} cannot delete {key}")

    def stream(self, key: str, chunk_bytes: int = 1024 * 1024) -> Iterator[bytes]:
        """The object in pieces (a run's log is served this way, never read whole where the
        backend can stream). Raises StorageKeyError, before the first piece, when absent."""
        return iter([self.read(key)])

    @staticmethod
    def check_key(key: str) -> str:
        """Refuse keys that could escape the store (absolute, ``..``, empty parts)."""
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key:
            raise StorageKeyError(f"invalid storage key: {key!r}")
        return key
