"""The AWS engine's steps over S3, one function per state of the Step Functions state machine.

``plan`` writes the chunk plan as a JSON manifest (the distributed map's ItemReader reads it, so
no plan size reaches the 256 KB state payload limit), ``score`` scores one chunk into a part
object plus a small record of its rows, ``assemble`` joins the parts in order with one multipart
upload and finishes the job, ``fail`` records an engine failure. Row errors are recorded, not
raised: the map finishes, and ``assemble`` names the first malformed row with its input number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from drcompat.batch.chunk import run_chunk
from drcompat.batch.files import CredentialLookup, open_source
from drcompat.batch.jobs import ABORTED, COMPLETED, FAILED, FINISHED, RUNNING, BatchJob, JobStore
from drcompat.batch.plan import plan_chunks
from drcompat.batch.s3 import Part, client_error, multipart_upload, parse_s3_url, s3_client
from drcompat.errors import ApiError
from drcompat.predict import PredictionService


@dataclass
class Workspace:
    """Where the engine keeps a job's manifest, parts and records: ``s3://bucket/prefix<jobId>/``."""

    client: Any
    bucket: str
    prefix: str = "batch/"
    endpoint_url: str | None = None

    def key(self, job_id: str, name: str) -> str:
        return f"{self.prefix}{job_id}/{name}"

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(found)

    def location(self, key: str) -> dict[str, Any]:
        location: dict[str, Any] = {"url": f"s3://{self.bucket}/{key}"}
        if self.endpoint_url:
            location["endpointUrl"] = self.endpoint_url
        return location

    def clean(self, job_id: str) -> None:
        for key in self.keys(self.key(job_id, "")):
            self.client.delete_object(Bucket=self.bucket, Key=key)


def source_location(job: BatchJob) -> dict[str, Any]:
    return {k: job.intake[k] for k in ("url", "credentialId", "endpointUrl") if job.intake.get(k)}


def _finish(store: JobStore, job: BatchJob, status: str, details: str) -> dict[str, Any]:
    job.status, job.status_details, job.finished = status, details, time.time()
    store.save(job)
    return {"jobId": job.id, "status": status, "statusDetails": details}


def plan(ws: Workspace, store: JobStore, job_id: str, credentials: CredentialLookup | None) -> dict[str, Any]:
    job = store.get(job_id)
    if job.status in FINISHED:
        return {"jobId": job_id, "bucket": ws.bucket, "chunks": 0, "headerEnd": 0, "manifest": None}
    job.status, job.started, job.status_details = RUNNING, time.time(), "Planning chunks."
    store.save(job)
    found = plan_chunks(open_source(source_location(job), credentials), job.chunk_bytes, job.options.quotechar)
    if not found.chunks:
        raise ApiError("The CSV input has a header row but no rows to score.")
    key = ws.key(job_id, "plan.json")
    ws.put(key, orjson.dumps([c.to_dict() for c in found.chunks]))
    job.total_chunks, job.data_bytes = len(found.chunks), found.data_bytes
    job.status_details = f"Scoring {len(found.chunks)} chunks."
    store.save(job)
    return {
        "jobId": job_id,
        "bucket": ws.bucket,
        "chunks": len(found.chunks),
        "headerEnd": len(found.header),
        "manifest": key,
    }


def score(
    service: PredictionService,
    ws: Workspace,
    store: JobStore,
    event: dict[str, Any],
    credentials: CredentialLookup | None,
) -> dict[str, Any]:
    job = store.get(str(event["jobId"]))
    index = int(event["chunk"]["index"])
    if job.status in FINISHED:  # aborted meanwhile: no more work
        return {"index": index, "skipped": True}
    task = {
        "deploymentId": job.deployment_id,
        "options": job.options.to_dict(),
        "source": source_location(job),
        "headerEnd": int(event["headerEnd"]),
        "chunk": event["chunk"],
        "part": ws.location(ws.key(job.id, f"parts/{index:06d}.csv")),
    }
    answer = run_chunk(service, task, credentials)
    folder = "errors" if "error" in answer else "parts"
    ws.put(ws.key(job.id, f"{folder}/{index:06d}.json"), orjson.dumps(answer))
    return {"index": index, "rows": answer["rows"], "failed": answer["failed"]}


def _error_text(error: dict[str, Any], index: int, rows_before: int | None, chunks: int) -> str:
    message = str(error.get("message", "the chunk could not be scored"))
    if "row" in error and rows_before is not None:
        return f"Row {rows_before + int(error['row']) + 1} of the input is malformed: {message}"
    return f"Chunk {index + 1} of {chunks} failed: {message}"


def assemble(ws: Workspace, store: JobStore, job_id: str, credentials: CredentialLookup | None) -> dict[str, Any]:
    job = store.get(job_id)
    try:
        if job.status == ABORTED:
            return {"jobId": job_id, "status": ABORTED}
        records = {int(k.rsplit("/", 1)[1][:6]): k for k in ws.keys(ws.key(job_id, "parts/")) if k.endswith(".json")}
        errors = sorted(k for k in ws.keys(ws.key(job_id, "errors/")) if k.endswith(".json"))
        answers = {i: orjson.loads(ws.get(k)) for i, k in records.items()}
        if errors:
            first = orjson.loads(ws.get(errors[0]))
            index = int(first["index"])
            before = None
            if all(i in answers for i in range(index)):
                before = sum(int(answers[i]["rows"]) for i in range(index))
            return _finish(store, job, FAILED, _error_text(first["error"], index, before, job.total_chunks))
        if len(answers) != job.total_chunks:
            return _finish(store, job, FAILED, f"{job.total_chunks - len(answers)} chunks were not scored.")
        for answer in answers.values():
            job.scored_rows += int(answer["rows"]) - int(answer["failed"])
            job.failed_rows += int(answer["failed"])
        job.done_chunks, job.done_bytes = job.total_chunks, job.data_bytes
        bucket, key = parse_s3_url(job.output["url"])
        client = s3_client(job.output, credentials)
        same_account = not job.output.get("credentialId")  # a server-side copy needs read access to the parts

        def part(index: int) -> Part:
            part_key = ws.key(job_id, f"parts/{index:06d}.csv")
            copy = {"Bucket": ws.bucket, "Key": part_key} if same_account else None
            return Part(int(answers[index]["size"]), lambda: ws.get(part_key), copy)

        try:
            job.output_bytes = multipart_upload(client, bucket, key, (part(i) for i in range(job.total_chunks)))
        except Exception as exc:
            raise ApiError(f"Could not write s3://{bucket}/{key} ({client_error(exc)}).") from exc
        failed = f", {job.failed_rows} failed" if job.failed_rows else ""
        return _finish(store, job, COMPLETED, f"Scored {job.scored_rows} rows{failed}.")
    finally:
        ws.clean(job_id)


def fail(ws: Workspace, store: JobStore, job_id: str, error: dict[str, Any] | None) -> dict[str, Any]:
    """The state machine's Catch: a step raised. Domain messages pass; anything else stays generic."""
    job = store.get(job_id)
    ws.clean(job_id)
    if job.status in FINISHED:
        return {"jobId": job_id, "status": job.status}
    cause = ""
    if error and error.get("Error") == "BatchJobError":
        try:
            cause = str(orjson.loads(error.get("Cause", "{}")).get("errorMessage", ""))
        except orjson.JSONDecodeError:
            cause = ""
    return _finish(store, job, FAILED, cause or "The batch engine failed; see the state machine's execution.")
