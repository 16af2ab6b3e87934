"""A store held in memory: where a model version is rehearsed before it is accepted."""

from __future__ import annotations

import hashlib

from drcompat.storage.base import Storage, StorageConflict, StorageKeyError


class MemoryStorage(Storage):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.writes = 0

    def read(self, key: str) -> bytes:
        try:
            return self.objects[self.check_key(key)]
        except KeyError as exc:
            raise StorageKeyError(key) from exc

    def version(self, key: str) -> str | None:
        return str(self.writes) if self.check_key(key) in self.objects else None

    def write(self, key: str, data: bytes) -> None:
        self.objects[self.check_key(key)] = bytes(data)
        self.writes += 1

    def read_for_update(self, key: str) -> tuple[bytes | None, str | None]:
        data = self.objects.get(self.check_key(key))
        return data, (hashlib.sha256(data).hexdigest() if data is not None else None)

    def write_if(self, key: str, data: bytes, precondition: str | None) -> None:
        if self.read_for_update(key)[1] != precondition:
            raise StorageConflict(key)
        self.write(key, data)

    def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))
