"""Where a batch job reads and writes: local files and ``s3://`` objects, behind one small shape.

A location is a plain dict (``{"path": ...}`` or ``{"url": "s3://b/k", "endpointUrl": ...,
"credentialId": ...}``) so it crosses process and Lambda boundaries as JSON. Credentials are
resolved by name where the work runs, never carried in the location.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from drcompat.batch.s3 import S3Object, s3_client
from drcompat.errors import BadRequest

Location = dict[str, Any]
CredentialLookup = Callable[[str], dict[str, Any]]


def is_s3(location: Location) -> bool:
    return bool(location.get("url"))


class LocalFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError as exc:
            raise BadRequest(f"The input file {self.path.name} does not exist.") from exc

    def read_range(self, start: int, end: int) -> bytes:
        with self.path.open("rb") as handle:
            handle.seek(start)
            return handle.read(end - start)


def open_source(location: Location, credentials: CredentialLookup | None = None) -> LocalFile | S3Object:
    if is_s3(location):
        return S3Object.from_url(location["url"], s3_client(location, credentials))
    return LocalFile(location["path"])


def write_parts_local(parts: Iterable[Path], target: Path) -> int:
    """Concatenate part files into ``target`` (written beside it, then renamed); its size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    shutil.copyfileobj(handle, out, 1024 * 1024)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target.stat().st_size
