"""``/api/v2/batchPredictions/``: DataRobot's Batch Prediction API as its official client speaks it.

Create answers 202 with a ``Location`` and, for ``localFile`` intake, a ``csvUpload`` link; the
client then PUTs the file (or ``part/{n}/`` pieces and ``finalizeMultipart/``), polls the job, and
GETs ``download/`` once the link appears. ``s3`` intake and output start at once. The camelCase
shapes live here; the work is ``drcompat.batch``'s.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from drcompat.api.bodies import json_object
from drcompat.api.pagination import paginate
from drcompat.auth import authenticate, token_from_header
from drcompat.batch.chunk import run_chunk
from drcompat.batch.files import LocalFile
from drcompat.batch.jobs import COMPLETED, FINISHED, INITIALIZING, RUNNING, BatchJob, job_store, new_job_id
from drcompat.batch.plan import DEFAULT_CHUNK_BYTES, check_chunk_bytes, header_end
from drcompat.batch.runner import BatchRunner
from drcompat.batch.s3 import parse_s3_url
from drcompat.batch.score import ScoreOptions
from drcompat.codecs.csv_codec import check_charset
from drcompat.config import Settings
from drcompat.errors import ApiError, BadRequest, Forbidden, NotFound, PayloadTooLarge
from drcompat.jobs.credentials import credential_store
from drcompat.predict import PredictionService

BASE = "/api/v2/batchPredictions"
NAMED_CHUNK_SIZES = ("auto", "fixed", "dynamic")
PART_WAIT_SECONDS = 900.0
UNSUPPORTED = {
    "timeseriesSettings": "time series batch jobs",
    "columnNamesRemapping": "columnNamesRemapping",
    "includeProbabilitiesClasses": "includeProbabilitiesClasses",
    "predictionThreshold": "a per-job predictionThreshold (set it on the deployment)",
    "explanationAlgorithm": "explanation algorithms other than the default",
    "maxNgramExplanations": "text explanations",
    "predictionInstance": "predictionInstance",
}


class Invalid(ApiError):
    """A job spec DataRobot would refuse: 422, as its API answers."""

    status = 422


class Links(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    self_: str = Field(alias="self")
    csv_upload: str | None = Field(None, alias="csvUpload")
    download: str | None = None


class BatchJobOut(BaseModel):
    """A job's status resource (the fields DataRobot's client reads, camelCase on the wire)."""

    model_config = ConfigDict(populate_by_name=True)
    id: str
    status: str
    status_details: str = Field(alias="statusDetails")
    percentage_completed: float = Field(alias="percentageCompleted")
    elapsed_time_sec: int = Field(alias="elapsedTimeSec")
    scored_rows: int = Field(alias="scoredRows")
    failed_rows: int = Field(alias="failedRows")
    skipped_rows: int = Field(0, alias="skippedRows")
    created: str
    created_by: str = Field(alias="createdBy")
    job_intake_size: int | None = Field(None, alias="jobIntakeSize")
    job_output_size: int | None = Field(None, alias="jobOutputSize")
    hidden: bool = False
    links: Links
    job_spec: dict[str, Any] = Field(alias="jobSpec")
    logs: list[str] = Field(default_factory=list)


class BatchJobPage(BaseModel):
    """DataRobot's pagination: count, next, previous, data, totalCount."""

    count: int
    next: str | None
    previous: str | None
    data: list[BatchJobOut]
    total_count: int = Field(alias="totalCount")


def iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def wire(job: BatchJob, base: str) -> dict[str, Any]:
    self_url = f"{base}{BASE}/{job.id}/"
    links: dict[str, Any] = {"self": self_url}
    if job.intake.get("type") == "localFile" and job.status == INITIALIZING:
        links["csvUpload"] = f"{self_url}csvUpload/"
    if job.output.get("type") == "localFile" and job.total_chunks and job.status in (RUNNING, COMPLETED):
        links["download"] = f"{self_url}download/"  # as DataRobot: streams while the job runs
    out = BatchJobOut(
        id=job.id,
        status=job.status,
        statusDetails=job.status_details,
        percentageCompleted=job.percentage,
        elapsedTimeSec=int(job.elapsed()),
        scoredRows=job.scored_rows,
        failedRows=job.failed_rows,
        skippedRows=0,
        created=iso(job.created),
        createdBy=job.owner,
        jobIntakeSize=job.data_bytes or None,
        jobOutputSize=job.output_bytes,
        links=Links.model_validate(links),
        jobSpec=job.spec,
    )
    return out.model_dump(by_alias=True, exclude_none=True)


def _bool(data: dict[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise Invalid(f"{name} must be true or false.")
    return value


def _int(data: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(f"{name} must be an integer from {low} to {high}.")
    return value


def _threshold(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid(f"{name} must be a number.")
    return float(value)


def _location(settings: Settings, raw: Any, name: str) -> dict[str, Any]:
    if raw is None:
        return {"type": "localFile"}
    if not isinstance(raw, dict):
        raise Invalid(f"{name} must be an object.")
    kind = raw.get("type", "localFile")
    if kind == "localFile":
        return {"type": "localFile"}
    if kind != "s3":
        raise Invalid(f"{name}.type {str(kind)[:40]!r} is not supported here: use localFile or s3.")
    url = raw.get("url")
    if not isinstance(url, str):
        raise Invalid(f"{name}.url must be an s3://bucket/key URL.")
    try:
        parse_s3_url(url)
    except BadRequest as exc:
        raise Invalid(f"{name}.url: {exc.message}") from exc
    location = {"type": "s3", "url": url}
    for key in ("credentialId", "endpointUrl"):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise Invalid(f"{name}.{key} must be a string.")
        location[key] = value
    endpoint = location.get("endpointUrl")
    allowed = {*settings.batch_endpoint_urls, *([settings.s3_endpoint_url] if settings.s3_endpoint_url else [])}
    if endpoint is not None and endpoint.rstrip("/") not in {a.rstrip("/") for a in allowed}:
        raise Invalid(f"{name}.endpointUrl is not an S3 endpoint this server may call (DRC_BATCH_ENDPOINT_URLS).")
    if raw.get("format", "csv") != "csv":
        raise Invalid(f"{name}.format: only csv is supported.")
    return location


def _csv_settings(raw: Any) -> dict[str, str]:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise Invalid("csvSettings must be an object.")
    delimiter = raw.get("delimiter", ",")
    delimiter = "\t" if delimiter == "tab" else delimiter
    quotechar = raw.get("quotechar", '"')
    encoding = raw.get("encoding", "utf-8")
    for name, value in (("delimiter", delimiter), ("quotechar", quotechar)):
        if not isinstance(value, str) or len(value) != 1 or value in "\r\n":
            raise Invalid(f"csvSettings.{name} must be one character (or 'tab').")
    if delimiter == quotechar:
        raise Invalid("csvSettings.delimiter and quotechar must differ.")
    try:
        encoding = check_charset(str(encoding))
    except BadRequest as exc:
        raise Invalid(f"csvSettings.encoding: {exc.message}") from exc
    return {"delimiter": delimiter, "quotechar": quotechar, "encoding": encoding}


def parse_job(settings: Settings, data: dict[str, Any], owner: str) -> BatchJob:
    """The create body into a job record; 422 naming what DataRobot's API would refuse."""
    deployment_id = data.get("deploymentId")
    if not isinstance(deployment_id, str) or not deployment_id:
        raise Invalid("deploymentId is required (scoring leaderboard models by modelId is not offered here).")
    for key, what in UNSUPPORTED.items():
        if data.get(key) is not None:
            raise Invalid(f"{key}: {what} are not supported by this server.")
    if data.get("includeProbabilities") is False:
        raise Invalid("includeProbabilities: false is not supported by this server.")
    columns = data.get("passthroughColumns")
    column_set = data.get("passthroughColumnsSet")
    if columns is not None and column_set is not None:
        raise Invalid("passthroughColumns and passthroughColumnsSet cannot be used together.")
    if column_set is not None and column_set != "all":
        raise Invalid("passthroughColumnsSet must be 'all'.")
    if columns is not None and (not isinstance(columns, list) or not all(isinstance(c, str) and c for c in columns)):
        raise Invalid("passthroughColumns must be a list of column names.")
    chunk = data.get("chunkSize")
    if chunk is None or chunk in NAMED_CHUNK_SIZES:
        chunk_bytes = settings.batch_chunk_bytes or DEFAULT_CHUNK_BYTES
    elif isinstance(chunk, int) and not isinstance(chunk, bool):
        try:
            chunk_bytes = check_chunk_bytes(chunk)
        except BadRequest as exc:
            raise Invalid(exc.message) from exc
    else:
        raise Invalid(f"chunkSize must be a number of bytes or one of {', '.join(NAMED_CHUNK_SIZES)}.")
    csv_settings = _csv_settings(data.get("csvSettings"))
    options = ScoreOptions(
        passthrough_columns=tuple(dict.fromkeys(columns or ())),
        passthrough_all=column_set == "all",
        max_explanations=_int(data, "maxExplanations", 0, 0, 100),
        threshold_low=_threshold(data, "thresholdLow"),
        threshold_high=_threshold(data, "thresholdHigh"),
        include_prediction_status=_bool(data, "includePredictionStatus", False),
        abort_on_error=_bool(data, "abortOnError", True),
        **csv_settings,
    )
    intake = _location(settings, data.get("intakeSettings"), "intakeSettings")
    output = _location(settings, data.get("outputSettings"), "outputSettings")
    num_concurrent = _int(data, "numConcurrent", settings.batch_workers, 1, 1000)
    spec = {k: v for k, v in data.items() if v is not None}
    spec.update(
        deploymentId=deployment_id,
        numConcurrent=num_concurrent,
        intakeSettings=intake,
        outputSettings=output,
        csvSettings=csv_settings,
        chunkSize=chunk if chunk is not None else "auto",
    )
    return BatchJob(
        id=new_job_id(),
        deployment_id=deployment_id,
        owner=owner,
        intake=intake,
        output=output,
        options=options,
        chunk_bytes=chunk_bytes,
        num_concurrent=num_concurrent,
        spec=spec,
    )


def build_runner(settings: Settings, service: PredictionService) -> BatchRunner:
    """The local engine over the server's own PredictionService (threads share its warm models)."""
    store = credential_store(settings)
    lookup = store.get if store else None
    root = Path(settings.batch_root)
    return BatchRunner(
        job_store(settings),
        root / "data",
        partial(run_chunk, service, credentials=lookup),
        ThreadPoolExecutor(max_workers=max(1, settings.batch_workers), thread_name_prefix="drcompat-chunk"),
        lookup,
        max_concurrent=max(1, settings.batch_workers),
    )


async def stream_to(request: Request, path: Path, limit: int) -> int:
    """The request body into ``path`` (never whole in memory); 413 past ``limit``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.upload")
    size = 0
    try:
        with tmp.open("wb") as handle:
            async for block in request.stream():
                size += len(block)
                if size > limit:
                    raise PayloadTooLarge(f"The upload is larger than the limit of {limit} bytes.")
                handle.write(block)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return size


def join_upload_parts(parts: list[Path], target: Path, quotechar: str) -> None:
    """Multipart uploads repeat the header in every part: keep the first part's only."""
    with target.open("wb") as out:
        for n, part in enumerate(parts):
            with part.open("rb") as handle:
                if n:
                    source = LocalFile(part)
                    handle.seek(header_end(source, source.size(), quotechar.encode()))
                shutil.copyfileobj(handle, out, 1024 * 1024)


def add_batch_prediction_routes(app: FastAPI, service: PredictionService, settings: Settings) -> None:
    built: list[BatchRunner] = []
    lock = threading.Lock()

    def batch() -> BatchRunner:
        """Built on first use, so the prediction functions' cold start pays nothing for it."""
        if not built:
            with lock:
                if not built:
                    built.append(build_runner(settings, service))
        return built[0]

    app.state.batch_runner = batch

    def caller(request: Request) -> str:
        return authenticate(service.registry.snapshot(), token_from_header(request.headers.get("authorization")))

    def may_use(token_name: str, deployment_id: str) -> bool:
        deployment = service.registry.snapshot().deployments.get(deployment_id)
        return deployment is not None and token_name in deployment.tokens

    def visible(job: BatchJob, token_name: str) -> bool:
        return job.owner == token_name or may_use(token_name, job.deployment_id)

    def owned(request: Request, job_id: str) -> BatchJob:
        token_name = caller(request)
        job = batch().store.get(job_id)
        if not visible(job, token_name):
            raise NotFound(f"Batch prediction job {job_id} was not found.")
        return job

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def answer(job: BatchJob, request: Request, status: int = 200) -> Response:
        headers = {"Location": f"{base(request)}{BASE}/{job.id}/"} if status == 202 else None
        return Response(orjson.dumps(wire(job, base(request))), status, headers, media_type="application/json")

    @app.post(f"{BASE}/", status_code=202, response_model=BatchJobOut, summary="Create a batch prediction job")
    async def create(request: Request) -> Response:
        token_name = caller(request)
        job = parse_job(settings, await json_object(request), token_name)
        if service.registry.snapshot().deployments.get(job.deployment_id) is None:
            raise NotFound(f"Deployment {job.deployment_id} was not found.")
        if not may_use(token_name, job.deployment_id):
            raise Forbidden(f"This API key is not allowed to use deployment {job.deployment_id}.")
        engine = getattr(request.app.state, "batch_start", None)  # AWS: Step Functions (set by the adapter)
        if engine is not None and "localFile" in (job.intake["type"], job.output["type"]):
            raise Invalid("This server runs batch jobs on AWS Step Functions: use s3 intake and output settings.")
        await run_in_threadpool(batch().store.save, job)
        if job.intake["type"] == "s3":
            await run_in_threadpool(engine or batch().start, job)
        return answer(job, request, 202)

    @app.get(f"{BASE}/", response_model=BatchJobPage, summary="List batch prediction jobs")
    async def list_jobs(request: Request) -> Response:
        token_name = caller(request)
        statuses = set(request.query_params.getlist("status"))
        jobs = [j for j in await run_in_threadpool(batch().store.list) if visible(j, token_name)]
        if statuses:
            jobs = [j for j in jobs if j.status in statuses]
        body = paginate(request, jobs)  # the links keep the status filter
        body["data"] = [wire(j, base(request)) for j in body["data"]]
        return Response(orjson.dumps(body), media_type="application/json")

    @app.get(f"{BASE}/{{job_id}}/", response_model=BatchJobOut, summary="A batch prediction job's status")
    async def get_job(job_id: str, request: Request) -> Response:
        return answer(await run_in_threadpool(owned, request, job_id), request)

    @app.delete(f"{BASE}/{{job_id}}/", status_code=202, summary="Abort a batch prediction job")
    async def abort(job_id: str, request: Request) -> Response:
        job = await run_in_threadpool(owned, request, job_id)
        job = await run_in_threadpool(batch().abort, job)
        if job.status in FINISHED:
            await run_in_threadpool(batch().remove_data, job.id)
        return answer(job, request, 202)

    def waiting_for_upload(job: BatchJob) -> None:
        if job.intake.get("type") != "localFile":
            raise Invalid("This job does not take a local file upload.")
        if job.status != INITIALIZING:
            raise Invalid(f"This job's data was already uploaded (status {job.status}).")

    @app.put(f"{BASE}/{{job_id}}/csvUpload/", status_code=202, summary="Upload the job's CSV and start it")
    async def upload(job_id: str, request: Request) -> Response:
        job = await run_in_threadpool(owned, request, job_id)
        waiting_for_upload(job)
        await stream_to(request, batch().input_path(job.id), settings.batch_max_upload_bytes)
        batch().start(job)
        return Response(orjson.dumps({"message": "Upload accepted."}), 202, media_type="application/json")

    @app.put(f"{BASE}/{{job_id}}/csvUpload/part/{{part}}/", status_code=202, summary="Upload one part of the CSV")
    async def upload_part(job_id: str, part: int, request: Request) -> Response:
        job = await run_in_threadpool(owned, request, job_id)
        waiting_for_upload(job)
        if not 0 <= part < 100_000:
            raise Invalid("The part number must be from 0 to 99999.")
        target = batch().job_dir(job.id) / "upload" / f"{part:06d}.csv"
        await stream_to(request, target, settings.batch_max_upload_bytes)
        return Response(orjson.dumps({"message": f"Part {part} accepted."}), 202, media_type="application/json")

    @app.post(f"{BASE}/{{job_id}}/csvUpload/finalizeMultipart/", status_code=202, summary="Join the parts and start")
    async def finalize(job_id: str, request: Request) -> Response:
        job = await run_in_threadpool(owned, request, job_id)
        waiting_for_upload(job)
        folder = batch().job_dir(job.id) / "upload"
        parts = sorted(folder.glob("*.csv")) if folder.is_dir() else []
        if not parts:
            raise Invalid("No parts were uploaded.")
        if sum(p.stat().st_size for p in parts) > settings.batch_max_upload_bytes:
            raise PayloadTooLarge(f"The upload is larger than the limit of {settings.batch_max_upload_bytes} bytes.")
        await run_in_threadpool(join_upload_parts, parts, batch().input_path(job.id), job.options.quotechar)
        await run_in_threadpool(shutil.rmtree, folder, True)
        batch().start(job)
        return Response(orjson.dumps({"message": "Upload finalized."}), 202, media_type="application/json")

    @app.get(f"{BASE}/{{job_id}}/download/", summary="Download the scored CSV (localFile output)")
    async def download(job_id: str, request: Request) -> Response:
        job = await run_in_threadpool(owned, request, job_id)
        if job.output.get("type") != "localFile":
            raise Invalid("This job writes its output to S3; there is nothing to download.")
        if not job.total_chunks:  # not planned yet (a job that stopped since streams what it has)
            raise NotFound(f"The output of job {job.id} is not available (status {job.status}).")
        if job.status == COMPLETED and not all(p.is_file() for p in batch().parts(job)):
            raise NotFound(f"The output of job {job.id} is no longer available.")

        def blocks() -> Iterator[bytes]:
            """Each part once it exists, in order; the stream ends early if the job stops (the
            client then reads the job's status, as with DataRobot)."""
            for path in batch().parts(job):
                deadline = time.monotonic() + PART_WAIT_SECONDS  # bounded, should the runner be gone
                while not path.is_file():
                    if batch().store.get(job.id).status not in (RUNNING, COMPLETED) or time.monotonic() > deadline:
                        return
                    time.sleep(0.1)
                with path.open("rb") as handle:
                    while block := handle.read(1024 * 1024):
                        yield block
            # the last part is written before the job's final record: end the stream only once the
            # job is finished, so a client reading the status right after the download sees it
            deadline = time.monotonic() + PART_WAIT_SECONDS
            while batch().store.get(job.id).status == RUNNING and time.monotonic() < deadline:
                time.sleep(0.05)

        encoding = job.options.encoding
        return StreamingResponse(blocks(), media_type=f"text/csv; charset={encoding}")
