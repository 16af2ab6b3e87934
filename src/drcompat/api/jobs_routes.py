"""The custom-jobs HTTP API, named after DataRobot's (``/api/v2/customJobs/...``), plus retraining
policies and rollback on deployments. Only tokens with ``manageJobs: true`` may use it.

Runs started over HTTP run in a small background pool: the POST answers 202 with the queued run,
and ``GET .../runs/{runId}/`` and ``.../logs/`` follow it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.types import Message

from drcompat.api.bodies import json_object, read_body
from drcompat.auth import authenticate, authorize_jobs, token_from_header
from drcompat.errors import BadRequest, PayloadTooLarge
from drcompat.jobs.publish import rollback
from drcompat.jobs.service import EDITABLE, JobService, check_by_reference
from drcompat.predict import PredictionService

JOBS = "/api/v2/customJobs"
MAX_JSON_BYTES = 1024 * 1024


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


capped_body = read_body  # the jobs routes' name for it


def capped_request(request: Request, limit: int) -> Request:
    """The same request whose body stream stops with 413 once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The upload is larger than the limit of {limit} bytes.")
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise PayloadTooLarge(f"The upload is larger than the limit of {limit} bytes.")
        return message

    return Request(request.scope, receive)


def add_job_routes(app: FastAPI, service: PredictionService, jobs: JobService, workers: int = 2) -> None:
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drcompat-run")
    app.state.job_pool = pool
    limits = jobs.limits

    async def json_body(request: Request) -> dict[str, Any]:
        return await json_object(request, limits.json_max_bytes)

    def check(request: Request) -> None:
        snapshot = service.registry.snapshot()
        authorize_jobs(snapshot, authenticate(snapshot, token_from_header(request.headers.get("authorization"))))

    @app.post(f"{JOBS}/", status_code=201, summary="Create a custom job")
    async def create_job(request: Request) -> Response:
        check(request)
        data = await json_body(request)
        unknown = sorted(set(data) - EDITABLE)
        if unknown:  # ids are assigned by the server; files are uploaded to .../items/
            raise BadRequest(f"Unknown job field {unknown[0][:60]!r}; allowed: {', '.join(sorted(EDITABLE))}.")
        name = data.pop("name", None)
        return json_response(await run_in_threadpool(lambda: jobs.create_job(name, **data)), 201)

    @app.get(f"{JOBS}/", summary="List custom jobs")
    async def list_jobs(request: Request) -> Response:
        check(request)
        found = await run_in_threadpool(jobs.list_jobs)
        return json_response({"count": len(found), "data": found})

    @app.get(f"{JOBS}/{{job_id}}/", summary="Get a custom job")
    async def get_job(job_id: str, request: Request) -> Response:
        check(request)
        return json_response(await run_in_threadpool(jobs.get_job, job_id))

    @app.patch(f"{JOBS}/{{job_id}}/", summary="Update a job's name, entry point or settings")
    async def update_job(job_id: str, request: Request) -> Response:
        check(request)
        data = await json_body(request)
        return json_response(await run_in_threadpool(lambda: jobs.update_job(job_id, **data)))

    @app.post(
        f"{JOBS}/{{job_id}}/items/", summary="Add or replace files (multipart: file parts, or a zip as 'archive')"
    )
    async def add_items(job_id: str, request: Request) -> Response:
        check(request)
        try:
            form = await capped_request(request, limits.upload_max_bytes).form(max_files=limits.archive_max_entries)
        except MultiPartException as exc:
            raise BadRequest(f"Malformed multipart upload: {exc.message}") from exc
        except HTTPException as exc:
            raise BadRequest(f"Malformed multipart upload: {exc.detail}") from exc
        uploads = [(key, value) for key, value in form.multi_items() if isinstance(value, UploadFile)]
        if not uploads:
            raise BadRequest("Send the files as multipart parts named 'file' (or a zip as 'archive').")
        path_hint = form.get("filePath")
        for key, upload in uploads:
            content = await upload.read()
            if key == "archive":
                await run_in_threadpool(jobs.put_archive, job_id, content)
            else:
                name = str(path_hint) if isinstance(path_hint, str) and len(uploads) == 1 else upload.filename
                await run_in_threadpool(jobs.put_file, job_id, name or "", content)
        return json_response(await run_in_threadpool(jobs.get_job, job_id))

    @app.get(f"{JOBS}/{{job_id}}/items/{{path:path}}", summary="Read one file of a job")
    async def read_item(job_id: str, path: str, request: Request) -> Response:
        check(request)
        content = await run_in_threadpool(jobs.read_file, job_id, path)
        return Response(content, media_type="application/octet-stream")

    @app.post(f"{JOBS}/{{job_id}}/runs/", status_code=202, summary="Start a run")
    async def start_run(job_id: str, request: Request) -> Response:
        check(request)
        data = await json_body(request)
        values = data.get("runtimeParameterValues") or {}
        if not isinstance(values, dict):
            raise BadRequest("runtimeParameterValues must be an object.")
        check_by_reference(values)  # a credential by name only: the run request is kept (and in AWS, sent on)
        deployment = data.get("deploymentId")
        queued = await run_in_threadpool(jobs.queue_run, job_id, deployment)
        if jobs.launcher is not None:  # in AWS: another invocation runs it, this one answers now
            await run_in_threadpool(jobs.launcher, job_id, values, deployment, queued["id"])
        else:
            pool.submit(jobs.start_run, job_id, values, deployment, None, None, queued["id"])
        return json_response(queued, 202)

    @app.get(f"{JOBS}/{{job_id}}/runs/", summary="List a job's runs")
    async def list_runs(job_id: str, request: Request) -> Response:
        check(request)
        runs = await run_in_threadpool(jobs.list_runs, job_id)
        return json_response({"count": len(runs), "data": runs})

    @app.get(f"{JOBS}/{{job_id}}/runs/{{run_id}}/", summary="A run's status")
    async def get_run(job_id: str, run_id: str, request: Request) -> Response:
        check(request)
        return json_response(await run_in_threadpool(jobs.get_run, job_id, run_id))

    @app.get(f"{JOBS}/{{job_id}}/runs/{{run_id}}/logs/", summary="A run's log (secrets masked)")
    async def run_log(job_id: str, run_id: str, request: Request) -> Response:
        check(request)
        pieces = await run_in_threadpool(jobs.run_log_stream, job_id, run_id)
        return StreamingResponse(iterate_in_threadpool(pieces), media_type="text/plain; charset=utf-8")

    policies = "/api/v2/deployments/{deployment_id}/retrainingPolicies"

    @app.post(f"{policies}/", status_code=201, summary="Attach a retraining job to a deployment with a schedule")
    async def attach(deployment_id: str, request: Request) -> Response:
        check(request)
        data = await json_body(request)
        job_id, schedule = data.get("jobId"), data.get("schedule")
        if not isinstance(job_id, str) or not isinstance(schedule, str):
            raise BadRequest("A retraining policy needs jobId and schedule (rate(...) or cron(...)).")
        tolerance = data.get("tolerance", 0.0)
        trigger = data.get("trigger")  # optional: retrain on data drift or accuracy decline too
        policy = await run_in_threadpool(
            lambda: jobs.attach_policy(deployment_id, job_id, schedule, tolerance, trigger=trigger)
        )
        return json_response(policy, 201)

    @app.get(f"{policies}/", summary="A deployment's retraining policies")
    async def list_policies(deployment_id: str, request: Request) -> Response:
        check(request)
        found = await run_in_threadpool(jobs.list_policies, deployment_id)
        return json_response({"count": len(found), "data": found})

    @app.post(f"{policies}/{{policy_id}}/runs/", status_code=202, summary="Run a retraining policy now")
    async def run_policy(deployment_id: str, policy_id: str, request: Request) -> Response:
        check(request)
        policy = await run_in_threadpool(jobs.get_policy, policy_id)
        if policy["deploymentId"] != deployment_id:
            raise BadRequest(f"Policy {policy_id} belongs to another deployment.")
        pool.submit(jobs.run_policy, policy_id)
        return json_response({"policyId": policy_id, "status": "queued"}, 202)

    @app.post("/api/v2/deployments/{deployment_id}/modelRollback/", summary="Put the previous model version back")
    async def model_rollback(deployment_id: str, request: Request) -> Response:
        check(request)
        model_id = await run_in_threadpool(rollback, jobs.storage, deployment_id)
        return json_response({"deploymentId": deployment_id, "modelId": model_id})
