"""Batch job records: what a job was asked to do and how far it got, kept in a ``Storage``.

The same record serves the local worker pool (a folder) and AWS (the bucket, where the Step
Functions tasks update it), so the status route reads one shape wherever the work ran.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from drcompat.batch.score import ScoreOptions
from drcompat.errors import NotFound
from drcompat.storage import Storage
from drcompat.storage.base import StorageKeyError

if TYPE_CHECKING:
    from drcompat.config import Settings

INITIALIZING, RUNNING, COMPLETED, ABORTED, FAILED = "INITIALIZING", "RUNNING", "COMPLETED", "ABORTED", "FAILED"
FINISHED = (COMPLETED, ABORTED, FAILED)
PREFIX = "jobs/"


def new_job_id() -> str:
    """A 24-hex id, like DataRobot's ObjectIds: a time prefix (so ids sort by creation) + random."""
    return f"{int(time.time()):08x}{secrets.token_hex(8)}"


@dataclass
class BatchJob:
    id: str
    deployment_id: str
    owner: str  # the token name that created it
    intake: dict[str, Any]  # {"type": "localFile"} or {"type": "s3", "url", "credentialId", "endpointUrl"}
    output: dict[str, Any]
    options: ScoreOptions
    chunk_bytes: int
    num_concurrent: int
    spec: dict[str, Any]  # the job spec as the client sent it, echoed back as jobSpec
    status: str = INITIALIZING
    status_details: str = "Job created; waiting for data."
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    scored_rows: int = 0
    failed_rows: int = 0
    data_bytes: int = 0
    done_bytes: int = 0
    total_chunks: int = 0
    done_chunks: int = 0
    output_bytes: int | None = None

    @property
    def finished_ok(self) -> bool:
        return self.status == COMPLETED

    @property
    def percentage(self) -> float:
        if self.status == COMPLETED:
            return 100.0
        return round(100.0 * self.done_bytes / self.data_bytes, 2) if self.data_bytes else 0.0

    def elapsed(self, now: float | None = None) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or now or time.time()) - self.started

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["options"] = self.options.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchJob:
        data = dict(data)
        data["options"] = ScoreOptions.from_dict(data["options"])
        return cls(**data)


class JobStore:
    """``jobs/<id>.json`` in a storage backend (a local folder, or the bucket's ``batch/``)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def save(self, job: BatchJob) -> None:
        self.storage.write(f"{PREFIX}{job.id}.json", orjson.dumps(job.to_dict()))

    def get(self, job_id: str) -> BatchJob:
        if not job_id.isalnum() or len(job_id) > 64:
            raise NotFound(f"Batch prediction job {job_id[:64]} was not found.")
        try:
            return BatchJob.from_dict(orjson.loads(self.storage.read(f"{PREFIX}{job_id}.json")))
        except StorageKeyError as exc:
            raise NotFound(f"Batch prediction job {job_id} was not found.") from exc

    def list(self) -> list[BatchJob]:
        """Newest first."""
        jobs = []
        for key in self.storage.list(PREFIX):
            if key.endswith(".json"):
                try:
                    jobs.append(self.get(key[len(PREFIX) : -len(".json")]))
                except (NotFound, ValueError, TypeError):
                    continue
        return sorted(jobs, key=lambda j: (j.created, j.id), reverse=True)


def job_store(settings: Settings) -> JobStore:
    """The bucket's ``batch/`` in AWS (where the engine's steps update records), else a local
    folder outside the checkout."""
    if settings.storage_backend == "s3" and settings.bucket:
        from drcompat.storage.s3 import S3Storage

        prefix = "/".join(p for p in (settings.bucket_prefix.strip("/"), "batch") if p)
        return JobStore(S3Storage(settings.bucket, prefix, settings.s3_endpoint_url))
    from drcompat.storage.local import LocalStorage

    return JobStore(LocalStorage(Path(settings.batch_root) / "records"))
