"""Job execution apart from the platform: the side that runs user code holds no storage access.

In AWS, Lambda cannot make namespaces, so the job's code cannot be kept from what its process can
reach. The platform (the job runner function: registry, credentials, publishing, promotion) does
not run user code; it hands a run to a separate execution function whose role grants nothing
beyond its own logs. The request carries everything the run needs and nothing more:

* ``jobArchiveUrl``: a presigned GET URL of a zip of the job's files (this run's copy);
* ``output``: a presigned POST (``url`` and ``fields``) for exactly one key, this run's
  ``output.zip``, with a size range: the only thing the execution side can write;
* ``environment``, ``entry``, ``timeoutSeconds``, ``networkAccess``, ``secrets`` (to mask),
  ``runId``.

``execute`` runs there; the platform unpacks ``output.zip`` (the job's ``$DRC_OUTPUT_DIR`` and
``log.txt``) with the usual archive checks and goes on as after a local run.
"""

from __future__ import annotations

import io
import os
import secrets
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from drcompat.errors import ApiError
from drcompat.jobs.folder import unpack_archive
from drcompat.jobs.limits import JobLimits
from drcompat.jobs.runner import RUN_FOLDER_PREFIX, run_job

LOG_NAME = "log.txt"
OUTPUT_FOLDER = "output/"


def pack(folder: Path, limit: int, log: str | None = None) -> bytes:
    """A zip of the regular files under ``folder`` (links skipped), refused past ``limit`` bytes."""
    buffer = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        if log is not None:
            bundle.writestr(LOG_NAME, log)
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]
            for name in sorted(files):
                path = Path(root) / name
                if path.is_symlink() or not path.is_file():
                    continue
                total += path.stat().st_size
                if total > limit:
                    raise ValueError(f"the files are larger than {limit} bytes")
                prefix = OUTPUT_FOLDER if log is not None else ""
                bundle.write(path, prefix + path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _get(url: str, limit: int) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 - a presigned https URL
        data = bytes(answer.read(limit + 1))
    if len(data) > limit:
        raise ValueError(f"the job archive is larger than {limit} bytes")
    return data


def _post(form: dict[str, Any], content: bytes) -> None:
    """S3's presigned POST: the signed fields, then the file, as multipart/form-data."""
    boundary = secrets.token_hex(16)
    body = io.BytesIO()
    for name, value in form["fields"].items():
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="output.zip"\r\n'.encode())
    body.write(b"Content-Type: application/zip\r\n\r\n" + content + f"\r\n--{boundary}--\r\n".encode())
    request = urllib.request.Request(  # noqa: S310 - a presigned https URL
        form["url"],
        data=body.getvalue(),
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
        answer.read()


def execute(request: dict[str, Any], limits: JobLimits, platform_isolated: bool = False) -> dict[str, Any]:
    """Run one job as the platform asked (the execution function's whole work)."""
    run_id = str(request.get("runId", "run"))[:40]
    with tempfile.TemporaryDirectory(prefix=f"{RUN_FOLDER_PREFIX}{run_id}-") as scratch:
        folder, output = Path(scratch) / "job", Path(scratch) / "output"
        try:
            archive = _get(str(request["jobArchiveUrl"]), limits.archive_max_bytes)
            unpack_archive(folder, archive, limits.archive_max_entries, limits.archive_max_bytes)
            result = run_job(
                folder,
                {str(k): str(v) for k, v in dict(request.get("environment") or {}).items()},
                entry=request.get("entry"),
                timeout_seconds=float(request.get("timeoutSeconds", 3600)),
                network=str(request.get("networkAccess", "public")),
                secrets=[str(s) for s in request.get("secrets") or []],
                output_dir=output,
                platform_isolated=platform_isolated,
                limits=limits,
                run_name=run_id,
            )
        except ApiError as exc:
            return {"status": "refused", "message": exc.message}
        except (KeyError, ValueError, OSError) as exc:
            return {"status": "refused", "message": f"the run could not start: {exc}"}
        log = result.log
        try:
            bundle = pack(output, limits.disk_quota_bytes, log)
        except ValueError as exc:
            bundle = pack(Path(scratch) / "none", 0, log + f"output dropped: {exc}\n")
        _post(dict(request["output"]), bundle)
    return {"status": result.status, "exitCode": result.exit_code, "durationSeconds": result.duration_seconds}


def unpack_output(bundle: bytes, output_dir: Path, limits: JobLimits) -> str:
    """The job's output folder into ``output_dir``; returns the log the execution side kept."""
    with tempfile.TemporaryDirectory() as scratch:
        unpack_archive(
            Path(scratch), bundle, limits.archive_max_entries, limits.disk_quota_bytes + limits.log_max_bytes
        )
        log_file = Path(scratch) / LOG_NAME
        log = log_file.read_bytes()[: limits.log_max_bytes * 2].decode("utf-8", "replace") if log_file.is_file() else ""
        produced = Path(scratch) / OUTPUT_FOLDER
        if produced.is_dir():
            for path in produced.rglob("*"):
                if path.is_file():
                    target = output_dir / path.relative_to(produced)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(path.read_bytes())
    return log
