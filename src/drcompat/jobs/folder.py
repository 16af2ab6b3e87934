"""A job's files: load and check a job folder, add files, and unpack uploaded archives safely."""

from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from drcompat.errors import BadRequest, PayloadTooLarge
from drcompat.jobs.metadata import JobMetadata, parse_metadata
from drcompat.jobs.runner import entry_point

MAX_ARCHIVE_BYTES = 256 * 1024 * 1024
MAX_ARCHIVE_ENTRIES = 2000
MAX_NAME_BYTES = 255
MAX_PATH_CHARS = 1024


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
    """A relative path inside the job; anything that could escape it is refused, and so are
    names no file system takes (NUL, control characters, over-long names)."""
    if not isinstance(name, str) or any(ord(c) < 32 for c in name):
        raise BadRequest(f"File name {str(name)[:80]!r} has control characters.")
    relative = PurePosixPath(name.replace("\\", "/"))
    if not name or relative.is_absolute() or any(part in ("", ".", "..") for part in relative.parts):
        raise BadRequest(f"File name {name[:80]!r} would write outside the job.")
    if len(name) > MAX_PATH_CHARS or any(len(part.encode()) > MAX_NAME_BYTES for part in relative.parts):
        raise BadRequest(
            f"File name {name[:80]!r} is too long ({MAX_NAME_BYTES} bytes a part, {MAX_PATH_CHARS} characters in all)."
        )
    return relative


def add_file(job: Path, name: str, content: bytes) -> Path:
    """Add or replace one file (a file with an existing name replaces it)."""
    destination = job / safe_name(name)
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(content)
    return destination


def unpack_archive(
    job: Path, archive: bytes, max_entries: int = MAX_ARCHIVE_ENTRIES, max_bytes: int = MAX_ARCHIVE_BYTES
) -> list[Path]:
    """Unpack a zip into the job, refusing path traversal, links, names that are both a file and a
    folder, too many entries and too many unpacked bytes (counted as it inflates)."""
    try:
        bundle = zipfile.ZipFile(io.BytesIO(archive))
        infos = bundle.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise BadRequest("The upload is not a valid zip archive.") from exc
    if len(infos) > max_entries:
        raise PayloadTooLarge(f"The archive has {len(infos)} entries; at most {max_entries} are allowed.")
    members = [m for m in infos if not m.is_dir()]
    names: set[str] = set()
    for member in members:
        names.add(safe_name(member.filename).as_posix())
        if stat.S_ISLNK(member.external_attr >> 16):
            raise BadRequest(f"Archive member {member.filename[:80]!r} is a link; links are not allowed.")
    for name in names:
        parts = name.split("/")
        clash = next(("/".join(parts[:i]) for i in range(1, len(parts)) if "/".join(parts[:i]) in names), None)
        if clash:
            raise BadRequest(f"The archive holds {clash!r} both as a file and as a folder.")
    if sum(m.file_size for m in members) > max_bytes:
        raise PayloadTooLarge(f"The archive unpacks to more than {max_bytes} bytes.")
    written = []
    total = 0
    for member in members:
        destination = job / safe_name(member.filename)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            with bundle.open(member) as source, destination.open("wb") as sink:
                while chunk := source.read(1024 * 1024):
                    total += len(chunk)
                    if total > max_bytes:
                        raise PayloadTooLarge(f"The archive unpacks to more than {max_bytes} bytes.")
                    sink.write(chunk)
        except (zipfile.BadZipFile, NotImplementedError, EOFError, ValueError, RuntimeError) as exc:
            raise BadRequest(f"Archive member {member.filename[:80]!r} cannot be read: {exc}") from exc
        written.append(destination)
    return written
