"""The limits one job run and one jobs-API request live under, taken from the settings once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drcompat.config import Settings


@dataclass(frozen=True)
class JobLimits:
    sandbox: str = "required"  # "required" or "off" (trusted jobs only; see the README)
    disk_quota_bytes: int = 1024 * 1024 * 1024
    log_max_bytes: int = 8 * 1024 * 1024
    max_processes: int = 256
    upload_max_bytes: int = 64 * 1024 * 1024
    archive_max_entries: int = 2000
    archive_max_bytes: int = 256 * 1024 * 1024
    json_max_bytes: int = 1024 * 1024
    memory_bytes: int | None = None  # the job's resource bundle: a data-segment limit per process
    cpu_count: int | None = None  # the bundle's CPUs: numeric libraries' thread counts
    default_network: str = "public"  # networkAccess of a job created without one

    @classmethod
    def from_settings(cls, settings: Settings) -> JobLimits:
        return cls(
            sandbox=settings.job_sandbox,
            disk_quota_bytes=settings.job_disk_quota_bytes,
            log_max_bytes=settings.job_log_max_bytes,
            max_processes=settings.job_max_processes,
            upload_max_bytes=settings.job_upload_max_bytes,
            archive_max_entries=settings.job_archive_max_entries,
            archive_max_bytes=settings.job_archive_max_bytes,
            json_max_bytes=settings.job_json_max_bytes,
            default_network=settings.job_default_network,
        )
