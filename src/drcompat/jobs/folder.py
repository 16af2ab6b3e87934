"""A job's files: load and check a job folder, add files, and unpack uploaded archives safely."""

from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from drcompat.errors import BadRequest
from drcompat.jobs.metadata import JobMetadata, parse_metadata
from drcompat.jobs.runner import entry_point

MAX_ARCHIVE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class JobFolder:
    path: Path
    entry: str
    metadata: JobMetadata


def load_job(path: Path, entry: str | None = None) -> JobFolder:
    """The job in ``path``: its metadata.yaml (required) checked, its entry point found."""
    if not path.is_dir():
        raise BadRequest(f"Job folder {path.name} does not exist.")
    metadata_file = path / "metadata.yaml"
    if not metadata_file.is_file():
        raise BadRequest("A job needs a metadata.yaml (it declares the runtime parameters).")
    return JobFolder(path, entry_point(path, entry), parse_metadata(metadata_file.read_bytes()))


def safe_name(name: str) -> PurePosixPath:
    """A relative path inside the job; anything that could escape it is refused."""
    relative = PurePosixPath(name.replace("\\", "/"))
    if not name or relative.is_absolute() or any(part in ("", ".", "..") for part in relative.parts):
        raise BadRequest(f"File name {name!r} would write outside the job.")
    return relative


def add_file(job: Path, name: str, content: bytes) -> Path:
    """Add or replace one file (a file with an existing name replaces it)."""
    destination = job / safe_name(name)
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(content)
    return destination


def unpack_archive(job: Path, archive: bytes) -> list[Path]:
    """Unpack a zip into the job, refusing path traversal, links and oversized contents."""
    try:
        bundle = zipfile.ZipFile(io.BytesIO(archive))
    except zipfile.BadZipFile as exc:
        raise BadRequest("The upload is not a valid zip archive.") from exc
    members = [m for m in bundle.infolist() if not m.is_dir()]
    for member in members:
        safe_name(member.filename)
        if stat.S_ISLNK(member.external_attr >> 16):
            raise BadRequest(f"Archive member {member.filename!r} is a link; links are not allowed.")
    if sum(m.file_size for m in members) > MAX_ARCHIVE_BYTES:
        raise BadRequest(f"The archive unpacks to more than {MAX_ARCHIVE_BYTES} bytes.")
    return [add_file(job, m.filename, bundle.read(m)) for m in members]
