"""``python -m drcompat.batch score input.csv output.csv --deployment ID`` (or ``drcompat-batch``).

Scores a file of any size in this process's worker pool, with the deployments this machine
serves (``DRC_*`` settings; the demo bucket by default), without a server. Either side may be
``s3://bucket/key``. A progress bar goes to stderr; the exit code is 0 (completed), 1 (failed,
with the reason) or 2 (bad arguments).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any, TextIO

from drcompat.batch.chunk import run_chunk, run_chunk_in_process
from drcompat.batch.jobs import COMPLETED, BatchJob, JobStore, new_job_id
from drcompat.batch.plan import DEFAULT_CHUNK_BYTES, check_chunk_bytes
from drcompat.batch.runner import BatchRunner
from drcompat.batch.score import ScoreOptions
from drcompat.config import Settings
from drcompat.errors import ApiError
from drcompat.jobs.credentials import credential_store
from drcompat.predict import PredictionService
from drcompat.storage.local import LocalStorage


class ProgressBar:
    """``[#######.............]  35.0%  7/20 chunks  350,000 rows  120,000 rows/s`` on one line."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width, self.started = stream, width, time.monotonic()

    def __call__(self, job: BatchJob) -> None:
        share = job.percentage / 100.0
        filled = round(share * self.width)
        rows = job.scored_rows + job.failed_rows
        rate = rows / max(time.monotonic() - self.started, 1e-9)
        chunks = f"{job.done_chunks}/{job.total_chunks} chunks" if job.total_chunks else job.status_details
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {job.percentage:5.1f}%  {chunks}  {rows:,} rows"
        if rows:
            line += f"  {rate:,.0f} rows/s"
        self.stream.write("\r" + line.ljust(100))
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def location(value: str, endpoint_url: str | None, credential: str | None) -> dict[str, Any]:
    if value.startswith("s3://"):
        found: dict[str, Any] = {"type": "s3", "url": value}
        if endpoint_url:
            found["endpointUrl"] = endpoint_url
        if credential:
            found["credentialId"] = credential
        return found
    return {"type": "localFile", "path": str(Path(value).resolve())}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="drcompat-batch", description=__doc__.split("\n\n")[0])
    verbs = top.add_subparsers(dest="verb", required=True)
    score = verbs.add_parser("score", help="score a CSV file (local path or s3://) into another")
    score.add_argument("input")
    score.add_argument("output")
    score.add_argument("--deployment", required=True, help="deployment id")
    score.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: CPUs)")
    score.add_argument("--chunk-size", type=int, help="bytes of input per chunk (default: about 4 per worker)")
    score.add_argument("--passthrough", action="append", default=[], help="input column to copy (repeatable)")
    score.add_argument("--passthrough-all", action="store_true", help="copy every input column")
    score.add_argument("--include-prediction-status", action="store_true", help="a bad row fails alone")
    score.add_argument("--max-explanations", type=int, default=0)
    score.add_argument("--delimiter", default=",")
    score.add_argument("--encoding", default="utf-8")
    score.add_argument("--endpoint-url", help="an S3-compatible endpoint for s3:// paths")
    score.add_argument("--credential", help="a stored s3 credential's name (else the default AWS chain)")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    return top


def executor_for(settings: Settings, workers: int) -> tuple[Executor, Any]:
    """Processes when there is more than one worker (true parallelism); else this process."""
    if workers > 1:
        # fork (where the OS has it) starts a worker in milliseconds with the imports already
        # done; this process has loaded no model and started no onnxruntime threads to inherit.
        method = "fork" if "fork" in get_all_start_methods() else "spawn"
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context(method))
        return pool, partial(run_chunk_in_process, settings.to_json())
    service = PredictionService(settings)
    store = credential_store(settings)
    return ThreadPoolExecutor(max_workers=1), partial(run_chunk, service, credentials=store.get if store else None)


def score(args: argparse.Namespace, settings: Settings, err: TextIO) -> int:
    if args.passthrough and args.passthrough_all:
        err.write("--passthrough and --passthrough-all cannot be used together\n")
        return 2
    local_input = not args.input.startswith("s3://") and Path(args.input).is_file()
    size = Path(args.input).stat().st_size if local_input else 0
    if args.chunk_size is None:  # a few chunks per worker balance the pool; 1-8 MiB each
        args.chunk_size = min(DEFAULT_CHUNK_BYTES, max(1 << 20, size // (4 * max(1, args.workers))))
    try:
        chunk_bytes = check_chunk_bytes(args.chunk_size)
        options = ScoreOptions(
            passthrough_columns=tuple(args.passthrough),
            passthrough_all=args.passthrough_all,
            max_explanations=args.max_explanations,
            include_prediction_status=args.include_prediction_status,
            delimiter="\t" if args.delimiter == "tab" else args.delimiter,
            encoding=args.encoding,
        )
    except ApiError as exc:
        err.write(exc.message + "\n")
        return 2
    intake = location(args.input, args.endpoint_url, args.credential)
    output = location(args.output, args.endpoint_url, args.credential)
    workers = max(1, args.workers)
    if local_input:
        workers = max(1, min(workers, -(-size // chunk_bytes)))  # one chunk: no pool to start
    job = BatchJob(
        id=new_job_id(),
        deployment_id=args.deployment,
        owner="cli",
        intake=intake,
        output=output,
        options=options,
        chunk_bytes=chunk_bytes,
        num_concurrent=workers,
        spec={},
    )
    store = credential_store(settings)
    executor, task = executor_for(settings, workers)
    progress = None if args.quiet else ProgressBar(err)
    with tempfile.TemporaryDirectory(prefix="drcompat-batch-") as work, executor:
        runner = BatchRunner(
            JobStore(LocalStorage(Path(work) / "records")),
            Path(work) / "data",
            task,
            executor,
            store.get if store else None,
            max_concurrent=workers,
        )
        started = time.monotonic()
        output_path = Path(output["path"]) if output["type"] == "localFile" else None
        runner.run(job, progress, output_path)
        if progress is not None:
            progress.close()
    elapsed = time.monotonic() - started
    if job.status != COMPLETED:
        err.write(f"{job.status}: {job.status_details}\n")
        return 1
    rows = job.scored_rows + job.failed_rows
    err.write(f"{job.status_details} {rows:,} rows in {elapsed:.2f} s ({rows / max(elapsed, 1e-9):,.0f} rows/s)\n")
    return 0


def main(argv: list[str] | None = None, settings: Settings | None = None, err: TextIO = sys.stderr) -> int:
    args = parser().parse_args(argv)
    return score(args, settings or Settings(), err)


if __name__ == "__main__":
    sys.exit(main())
