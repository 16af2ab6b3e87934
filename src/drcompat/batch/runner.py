"""The local engine: the chunk plan on a worker pool (threads in the server, processes in the CLI).

A coordinator plans the input, keeps at most ``numConcurrent`` chunks in flight, records progress
after each, and assembles the parts in input order: kept as files for the download route, joined
into a local file, or uploaded to S3 with one multipart upload. A malformed row fails its row or
the job (as the job says); nothing here lets bad data reach the process.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from drcompat.batch.files import CredentialLookup, is_s3, open_source, write_parts_local
from drcompat.batch.jobs import ABORTED, COMPLETED, FAILED, FINISHED, RUNNING, BatchJob, JobStore
from drcompat.batch.plan import Plan, plan_chunks
from drcompat.batch.s3 import Part, client_error, multipart_upload, parse_s3_url, s3_client
from drcompat.errors import ApiError

log = logging.getLogger("drcompat.batch")
TaskFn = Callable[[dict[str, Any]], dict[str, Any]]
Progress = Callable[[BatchJob], None]


class BatchRunner:
    """Runs jobs whose data this process can reach: files under ``root`` and S3 objects."""

    def __init__(
        self,
        store: JobStore,
        root: Path,
        task: TaskFn,
        executor: Executor,
        credentials: CredentialLookup | None = None,
        max_concurrent: int = 2,
    ) -> None:
        self.store = store
        self.root = Path(root)
        self.task = task
        self.executor = executor
        self.credentials = credentials
        self.max_concurrent = max(1, max_concurrent)
        self.coordinators = ThreadPoolExecutor(max_workers=2, thread_name_prefix="drcompat-batch")
        self.aborted: set[str] = set()
        self.lock = threading.Lock()

    # -- folders -------------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        return self.root / job_id

    def input_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "input.csv"

    def part_path(self, job_id: str, index: int) -> Path:
        return self.job_dir(job_id) / "parts" / f"{index:06d}.csv"

    def parts(self, job: BatchJob) -> Iterator[Path]:
        return (self.part_path(job.id, k) for k in range(job.total_chunks))

    def remove_data(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, job: BatchJob, output_path: Path | None = None) -> Future[BatchJob]:
        return self.coordinators.submit(self.run, job, None, output_path)

    def abort(self, job: BatchJob) -> BatchJob:
        with self.lock:
            self.aborted.add(job.id)
        if job.status not in FINISHED:
            job.status, job.status_details, job.finished = ABORTED, "Job aborted by the user.", time.time()
            job.started = job.started or job.finished
            self.store.save(job)
        return job

    def _is_aborted(self, job_id: str) -> bool:
        with self.lock:
            return job_id in self.aborted

    def _save(self, job: BatchJob, progress: Progress | None) -> None:
        if self._is_aborted(job.id):
            return  # the abort's record stands
        self.store.save(job)
        if progress is not None:
            progress(job)

    def run(self, job: BatchJob, progress: Progress | None = None, output_path: Path | None = None) -> BatchJob:
        """Plan, score every chunk, assemble; the job's record says how it ended."""
        job.status, job.started = RUNNING, time.time()
        job.status_details = "Planning chunks."
        self._save(job, progress)
        try:
            self._run(job, progress, output_path)
        except ApiError as exc:
            self._finish(job, FAILED, exc.message, progress)
        except Exception as exc:
            log.exception("batch job %s failed", job.id)
            detail = client_error(exc) if hasattr(exc, "response") else "internal error"
            self._finish(job, FAILED, f"The job failed ({detail}).", progress)
        finally:
            if self._is_aborted(job.id):
                self.remove_data(job.id)
            with self.lock:
                self.aborted.discard(job.id)
        return job

    def _finish(self, job: BatchJob, status: str, details: str, progress: Progress | None) -> None:
        job.status, job.status_details, job.finished = status, details, time.time()
        self._save(job, progress)

    def _source(self, job: BatchJob) -> dict[str, Any]:
        if job.intake.get("type") == "s3":
            return {k: job.intake[k] for k in ("url", "credentialId", "endpointUrl") if job.intake.get(k)}
        return {"path": str(job.intake.get("path") or self.input_path(job.id))}

    def _run(self, job: BatchJob, progress: Progress | None, output_path: Path | None) -> None:
        source = self._source(job)
        plan = plan_chunks(open_source(source, self.credentials), job.chunk_bytes, job.options.quotechar)
        if not plan.chunks:
            raise ApiError("The CSV input has a header row but no rows to score.")
        job.total_chunks, job.data_bytes = len(plan.chunks), plan.data_bytes
        job.status_details = f"Scoring {len(plan.chunks)} chunks."
        self._save(job, progress)
        if not self._score_all(job, plan, source, progress):
            return
        if self._is_aborted(job.id):
            return
        job.status_details = "Assembling the output."
        self._save(job, progress)
        if is_s3(job.output):
            job.output_bytes = self._upload(job)
            self.remove_data(job.id)
        elif output_path is not None:
            job.output_bytes = write_parts_local(self.parts(job), output_path)
            self.remove_data(job.id)
        else:  # localFile output: the parts stay for the download route
            job.output_bytes = sum(p.stat().st_size for p in self.parts(job))
            self.input_path(job.id).unlink(missing_ok=True)
        failed = f", {job.failed_rows} failed" if job.failed_rows else ""
        self._finish(job, COMPLETED, f"Scored {job.scored_rows} rows{failed}.", progress)

    def _score_all(self, job: BatchJob, plan: Plan, source: dict[str, Any], progress: Progress | None) -> bool:
        pending = list(plan.chunks)
        pending.reverse()
        in_flight: dict[Future[dict[str, Any]], int] = {}
        rows_by_chunk: dict[int, int] = {}
        window = max(1, min(job.num_concurrent, self.max_concurrent))
        header_end = len(plan.header)
        try:
            while pending or in_flight:
                while pending and len(in_flight) < window and not self._is_aborted(job.id):
                    chunk = pending.pop()
                    task = {
                        "deploymentId": job.deployment_id,
                        "options": job.options.to_dict(),
                        "source": source,
                        "headerEnd": header_end,
                        "chunk": chunk.to_dict(),
                        "part": {"path": str(self.part_path(job.id, chunk.index))},
                    }
                    in_flight[self.executor.submit(self.task, task)] = chunk.index
                if self._is_aborted(job.id):
                    return False
                done, _ = wait(in_flight, timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    index = in_flight.pop(future)
                    answer = future.result()
                    if "error" in answer:
                        details = self._error_text(plan, index, answer["error"], rows_by_chunk)
                        self._finish(job, FAILED, details, progress)
                        return False
                    rows_by_chunk[index] = int(answer["rows"])
                    chunk = plan.chunks[index]
                    job.done_chunks += 1
                    job.done_bytes += chunk.end - chunk.start
                    job.scored_rows += int(answer["rows"]) - int(answer["failed"])
                    job.failed_rows += int(answer["failed"])
                    self._save(job, progress)
        finally:
            for future in in_flight:
                future.cancel()
        return True

    @staticmethod
    def _error_text(plan: Plan, index: int, error: dict[str, Any], rows_by_chunk: dict[int, int]) -> str:
        message = str(error.get("message", "the chunk could not be scored"))
        if "row" not in error:
            return f"Chunk {index + 1} of {len(plan.chunks)} failed: {message}"
        row = int(error["row"])
        if all(k in rows_by_chunk for k in range(index)):
            number = sum(rows_by_chunk[k] for k in range(index)) + row + 1
            return f"Row {number} of the input is malformed: {message}"
        chunk = plan.chunks[index]
        where = f"row {row + 1} of chunk {index + 1} (input bytes {chunk.start}-{chunk.end})"
        return f"Malformed input at {where}: {message}"

    def _upload(self, job: BatchJob) -> int:
        bucket, key = parse_s3_url(job.output["url"])
        client = s3_client(job.output, self.credentials)
        parts = (Part(p.stat().st_size, p.read_bytes) for p in self.parts(job))
        try:
            return multipart_upload(client, bucket, key, parts)
        except Exception as exc:
            raise ApiError(f"Could not write s3://{bucket}/{key} ({client_error(exc)}).") from exc
