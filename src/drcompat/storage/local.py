"""A local folder laid out like the S3 bucket: how the service runs with no AWS at all."""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from drcompat.storage.base import Storage, StorageConflict, StorageKeyError


class LocalStorage(Storage):
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        return self.root / self.check_key(key)

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise StorageKeyError(key) from exc

    def stream(self, key: str, chunk_bytes: int = 1024 * 1024) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise StorageKeyError(key) from exc
        return self._pieces(handle, chunk_bytes)

    @staticmethod
    def _pieces(handle: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(chunk_bytes):
                yield chunk

    def version(self, key: str) -> str | None:
        try:
            stat = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return f"{stat.st_mtime_ns}-{stat.st_size}-{stat.st_ino}"

    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    @contextmanager
    def _locked(self, key: str) -> Iterator[Path]:
        """An exclusive lock per key (flock: held per open file, so threads and processes alike)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / f".{path.name}.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield path
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _fingerprint(data: bytes | None) -> str | None:
        return None if data is None else hashlib.sha256(data).hexdigest()

    def read_for_update(self, key: str) -> tuple[bytes | None, str | None]:
        try:
            data: bytes | None = self.read(key)
        except StorageKeyError:
            data = None
        return data, self._fingerprint(data)

    def write_if(self, key: str, data: bytes, precondition: str | None) -> None:
        with self._locked(key):
            current, _ = self.read_for_update(key)
            if self._fingerprint(current) != precondition:
                raise StorageConflict(key)
            self.write(key, data)

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix if prefix else self.root
        if not base.exists():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not (p.name.startswith(".") and p.name.endswith(".lock"))
        )
