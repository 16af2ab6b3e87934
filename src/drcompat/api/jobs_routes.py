"""The custom-jobs HTTP API, named after DataRobot's (``/api/v2/customJobs/...``), plus retraining
policies and rollback on deployments. Only tokens with ``manageJobs: true`` may use it.

Runs started over HTTP run in a small background pool: the POST answers 202 with the queued run,
and ``GET .../runs/{runId}/`` and ``.../logs/`` follow it.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.types import Message

from drcompat.api.bodies import json_object
from drcompat.api.pagination import paginate
from drcompat.auth import authenticate, authorize_jobs, token_from_header
from drcompat.errors import ApiError, BadRequest, NotFound, PayloadTooLarge
from drcompat.jobs.client_shape import SCHEDULE_FIELDS, TERMINAL, client_run, cron_from_schedule, values_mapping
from drcompat.jobs.publish import rollback
from drcompat.jobs.service import EDITABLE, JobService, check_by_reference
from drcompat.jobs.templates import gallery, new_job
from drcompat.predict import PredictionService

JOBS = "/api/v2/customJobs"
STATUS_WAIT_SECONDS = 3.0


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


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

    def check(request: Request) -> str:
        snapshot = service.registry.snapshot()
        name = authenticate(snapshot, token_from_header(request.headers.get("authorization")))
        authorize_jobs(snapshot, name)
        return name

    async def job_form(request: Request) -> tuple[dict[str, Any], list[tuple[str, bytes]], list[str]]:
        """A create/update body: JSON, or the client's multipart (fields, and ``file``/``filePath``
        pairs in order; a file without a path keeps its file name)."""
        if not request.headers.get("content-type", "").startswith("multipart/"):
            return await json_body(request), [], []
        try:
            form = await capped_request(request, limits.upload_max_bytes).form(max_files=limits.archive_max_entries)
        except MultiPartException as exc:
            raise BadRequest(f"Malformed multipart upload: {exc.message}") from exc
        except HTTPException as exc:
            raise BadRequest(f"Malformed multipart upload: {exc.detail}") from exc
        try:
            return await read_form(form)
        finally:
            await form.close()  # the parts' spooled files

    async def read_form(form: FormData) -> tuple[dict[str, Any], list[tuple[str, bytes]], list[str]]:
        fields: dict[str, Any] = {}
        files: list[list[Any]] = []  # [name, content, "file" | "filePath" (its path came) | "archive"]
        deleted: list[str] = []
        early_paths: list[str] = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key not in ("file", "archive"):
                    raise BadRequest(f"Unknown multipart file part {key[:60]!r}; send files as 'file'.")
                files.append([value.filename or "", await value.read(), key])
                if key == "file" and early_paths:  # a form that put its fields first
                    files[-1][0], files[-1][2] = early_paths.pop(0), "filePath"
            elif key == "filePath":
                pending = next((f for f in reversed(files) if f[2] == "file"), None)
                if pending is None:
                    early_paths.append(value)
                else:
                    pending[0], pending[2] = value, "filePath"
            elif key == "filesToDelete":
                deleted.append(value)
            else:
                fields[key] = value
        if early_paths:
            raise BadRequest("Each filePath must name a file part (there are more filePath fields than files).")
        for key in ("runtimeParameterValues", "tags", "metrics", "trainingParameters", "artifacts"):
            if isinstance(fields.get(key), str):
                try:
                    fields[key] = orjson.loads(fields[key])
                except orjson.JSONDecodeError as exc:
                    raise BadRequest(f"{key} must be JSON: {exc}") from exc
        if isinstance(fields.get("timeoutSeconds"), str):
            try:
                fields["timeoutSeconds"] = float(fields["timeoutSeconds"])
            except ValueError as exc:
                raise BadRequest("timeoutSeconds must be a number of seconds.") from exc
        uploads = [("\0archive" if f[2] == "archive" else f[0], f[1]) for f in files]
        return fields, uploads, deleted

    def settings_of(fields: dict[str, Any]) -> dict[str, Any]:
        fields = dict(fields)
        if "runtimeParameters" in fields:
            raise BadRequest("runtimeParameters (full definitions) are not supported: declare them in metadata.yaml.")
        if "runtimeParameterValues" in fields:
            fields["runtimeParameterValues"] = values_mapping(fields["runtimeParameterValues"])
        unknown = sorted(set(fields) - EDITABLE - {"filesToDelete"})
        if unknown:  # ids are assigned by the server
            raise BadRequest(f"Unknown job field {unknown[0][:60]!r}; allowed: {', '.join(sorted(EDITABLE))}.")
        return fields

    def store_files(job_id: str, uploads: list[tuple[str, bytes]]) -> None:
        for name, content in uploads:
            if name == "\0archive":
                jobs.put_archive(job_id, content)
            else:
                jobs.put_file(job_id, name, content)

    def apply(job_id: str, fields: dict[str, Any], uploads: list[tuple[str, bytes]], deleted: list[str]) -> None:
        store_files(job_id, uploads)
        for item in deleted + list(fields.pop("filesToDelete", None) or []):
            jobs.delete_file(job_id, str(item))
        if isinstance(fields.get("entryPoint"), str):
            fields["entryPoint"] = jobs.entry_path(job_id, fields["entryPoint"])
        if fields:
            jobs.update_job(job_id, **fields)

    @app.post(f"{JOBS}/", status_code=201, summary="Create a custom job (JSON, or multipart with files)")
    async def create_job(request: Request) -> Response:
        check(request)
        fields, uploads, deleted = await job_form(request)
        fields = settings_of(fields)
        name = fields.pop("name", None)
        entry = fields.pop("entryPoint", None)

        def create() -> dict[str, Any]:
            job = jobs.create_job(name, **fields)
            try:
                apply(job["id"], {"entryPoint": entry} if entry else {}, uploads, deleted)
            except ApiError:
                jobs.delete_job(job["id"])  # nothing half-made stays behind
                raise
            return jobs.job_for_client(job["id"])

        return json_response(await run_in_threadpool(create), 201)

    @app.get(f"{JOBS}/templates/", summary="The job gallery (templates a job can be created from)")
    async def list_templates(request: Request) -> Response:
        check(request)
        found = [{"id": name, "name": name, "description": title} for name, title in gallery().items()]
        return json_response(paginate(request, found))

    @app.post(f"{JOBS}/fromTemplate/", status_code=201, summary="Create a job from a gallery template")
    async def from_template(request: Request) -> Response:
        check(request)
        data = await json_body(request)
        template = data.get("templateId")
        if not isinstance(template, str) or template not in gallery():
            raise BadRequest(f"templateId must be one of: {', '.join(gallery())}.")
        settings = settings_of({k: v for k, v in data.items() if k != "templateId"})
        name = settings.pop("name", None) or template

        def create() -> dict[str, Any]:
            with tempfile.TemporaryDirectory() as scratch:
                folder = Path(scratch) / "job"
                new_job(folder, template)
                files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
            job = jobs.create_job(name, files=files, **settings)
            return jobs.job_for_client(job["id"])

        return json_response(await run_in_threadpool(create), 201)

    @app.get(f"{JOBS}/", summary="List custom jobs")
    async def list_jobs(request: Request) -> Response:
        check(request)
        found = await run_in_threadpool(lambda: [jobs.job_for_client(j["id"]) for j in jobs.list_jobs()])
        return json_response(paginate(request, found))

    @app.get(f"{JOBS}/{{job_id}}/", summary="Get a custom job")
    async def get_job(job_id: str, request: Request) -> Response:
        check(request)
        return json_response(await run_in_threadpool(jobs.job_for_client, job_id))

    @app.patch(f"{JOBS}/{{job_id}}/", summary="Update a job: settings, files (multipart), filesToDelete")
    async def update_job(job_id: str, request: Request) -> Response:
        check(request)
        fields, uploads, deleted = await job_form(request)
        fields = settings_of(fields)

        def update() -> dict[str, Any]:
            jobs.get_job(job_id)
            apply(job_id, fields, uploads, deleted)
            return jobs.job_for_client(job_id)

        return json_response(await run_in_threadpool(update))

    @app.delete(f"{JOBS}/{{job_id}}/", status_code=204, summary="Delete a job with its runs, schedules and policies")
    async def delete_job(job_id: str, request: Request) -> Response:
        check(request)
        await run_in_threadpool(jobs.delete_job, job_id)
        return Response(status_code=204)

    @app.delete(f"{JOBS}/{{job_id}}/items/{{item}}/", status_code=204, summary="Delete one file (item id or path)")
    async def delete_item(job_id: str, item: str, request: Request) -> Response:
        check(request)
        await run_in_threadpool(jobs.delete_file, job_id, item)
        return Response(status_code=204)

    @app.post(
        f"{JOBS}/{{job_id}}/items/", summary="Add or replace files (multipart: file parts, or a zip as 'archive')"
    )
    async def add_items(job_id: str, request: Request) -> Response:
        check(request)
        if not request.headers.get("content-type", "").startswith("multipart/"):
            raise BadRequest("Send the files as multipart parts named 'file' (or a zip as 'archive').")
        _, uploads, _ = await job_form(request)
        if not uploads:
            raise BadRequest("Send the files as multipart parts named 'file' (or a zip as 'archive').")
        await run_in_threadpool(jobs.get_job, job_id)
        await run_in_threadpool(store_files, job_id, uploads)
        return json_response(await run_in_threadpool(jobs.job_for_client, job_id))

    @app.get(f"{JOBS}/{{job_id}}/items/{{path:path}}", summary="Read one file of a job")
    async def read_item(job_id: str, path: str, request: Request) -> Response:
        check(request)
        content = await run_in_threadpool(jobs.read_file, job_id, path)
        return Response(content, media_type="application/octet-stream")

    def run_answer(job_id: str, record: dict[str, Any]) -> dict[str, Any]:
        return client_run(record, jobs.get_job(job_id)["items"])

    def run_url(request: Request, job_id: str, run_id: str) -> str:
        return f"{str(request.base_url).rstrip('/')}{JOBS}/{job_id}/runs/{run_id}/"

    @app.post(f"{JOBS}/{{job_id}}/runs/", status_code=202, summary="Start a run (202, Location: its status)")
    async def start_run(job_id: str, request: Request) -> Response:
        check(request)
        data = await json_body(request)
        values = values_mapping(data.get("runtimeParameterValues"))  # the client sends [{fieldName, type, value}]
        check_by_reference(values)  # a credential by id or name only: the run request is kept (and in AWS, sent on)
        deployment = data.get("deploymentId")
        queued = await run_in_threadpool(jobs.queue_run, job_id, deployment)
        if isinstance(data.get("description"), str):
            queued = await run_in_threadpool(jobs.update_run, job_id, queued["id"], data["description"])
        if jobs.launcher is not None:  # in AWS: another invocation runs it, this one answers now
            await run_in_threadpool(jobs.launcher, job_id, values, deployment, queued["id"])
        else:
            pool.submit(jobs.start_run, job_id, values, deployment, None, None, queued["id"])
        location = run_url(request, job_id, queued["id"]) + "status/"
        answer = await run_in_threadpool(run_answer, job_id, queued)
        return Response(orjson.dumps(answer), 202, headers={"Location": location}, media_type="application/json")

    @app.get(f"{JOBS}/{{job_id}}/runs/{{run_id}}/status/", summary="A run's async status (303 to the run when done)")
    async def run_status(job_id: str, run_id: str, request: Request) -> Response:
        check(request)
        deadline = time.monotonic() + STATUS_WAIT_SECONDS  # a short long-poll: the client sleeps 5 s between polls
        while True:
            record = await run_in_threadpool(jobs.get_run, job_id, run_id)
            done = record.get("status") in TERMINAL
            if done or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.1)
        body = orjson.dumps({"id": run_id, "status": "COMPLETED" if done else "RUNNING"})
        if done:
            headers = {"Location": run_url(request, job_id, run_id)}
            return Response(body, 303, headers=headers, media_type="application/json")
        return Response(body, 200, media_type="application/json")

    @app.get(f"{JOBS}/{{job_id}}/runs/", summary="List a job's runs")
    async def list_runs(job_id: str, request: Request) -> Response:
        check(request)
        runs = await run_in_threadpool(lambda: [run_answer(job_id, r) for r in jobs.list_runs(job_id)])
        return json_response(paginate(request, runs))

    @app.get(f"{JOBS}/{{job_id}}/runs/{{run_id}}/", summary="A run and its status")
    async def get_run(job_id: str, run_id: str, request: Request) -> Response:
        check(request)
        return json_response(await run_in_threadpool(lambda: run_answer(job_id, jobs.get_run(job_id, run_id))))

    @app.patch(f"{JOBS}/{{job_id}}/runs/{{run_id}}/", summary="Update a run's description")
    async def update_run(job_id: str, run_id: str, request: Request) -> Response:
        check(request)
        data = await json_body(request)
        unknown = sorted(set(data) - {"description"})
        if unknown:
            raise BadRequest(f"Unknown run field {unknown[0][:60]!r}; only description can change.")
        record = await run_in_threadpool(jobs.update_run, job_id, run_id, data.get("description", ""))
        return json_response(await run_in_threadpool(run_answer, job_id, record))

    @app.delete(f"{JOBS}/{{job_id}}/runs/{{run_id}}/", status_code=204, summary="Cancel a run (ends its processes)")
    async def cancel_run(job_id: str, run_id: str, request: Request) -> Response:
        check(request)
        await run_in_threadpool(jobs.cancel_run, job_id, run_id)
        return Response(status_code=204)

    @app.get(f"{JOBS}/{{job_id}}/runs/{{run_id}}/logs/", summary="A run's log (secrets masked)")
    async def run_log(job_id: str, run_id: str, request: Request) -> Response:
        check(request)
        await run_in_threadpool(jobs.get_run, job_id, run_id)
        if not await run_in_threadpool(jobs.has_log, job_id, run_id):
            return Response(orjson.dumps({"message": "No log found"}), 404, media_type="application/json")
        pieces = await run_in_threadpool(jobs.run_log_stream, job_id, run_id)
        return StreamingResponse(iterate_in_threadpool(pieces), media_type="text/plain; charset=utf-8")

    @app.delete(f"{JOBS}/{{job_id}}/runs/{{run_id}}/logs/", status_code=204, summary="Delete a run's log")
    async def delete_log(job_id: str, run_id: str, request: Request) -> Response:
        check(request)
        await run_in_threadpool(jobs.delete_run_log, job_id, run_id)
        return Response(status_code=204)

    # --- schedules, as the client's JobSchedule reads them ----------------------------------
    def schedule_answer(policy: dict[str, Any], user: str) -> dict[str, Any]:
        who = {"id": user, "username": user, "firstName": user, "lastName": "(API token)"}  # who did it
        overrides = policy.get("parameterOverrides") or {}
        return {
            "id": policy["id"],
            "customJobId": policy["jobId"],
            "scheduledJobId": policy["id"],
            "schedule": policy.get("scheduleSpec"),
            "cron": policy["schedule"],
            "enabled": policy.get("enabled", True),
            "parameterOverrides": [{"fieldName": k, "type": "string", "value": v} for k, v in overrides.items()],
            "createdAt": policy["created"],
            "updatedAt": policy.get("updated", policy["created"]),
            "createdBy": who,
            "updatedBy": who,
            "lastRunAt": policy.get("lastRunAt"),
            "lastRunId": policy.get("lastRunId"),
        }

    def schedule_body(data: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
        unknown = sorted(set(data) - {"schedule", "parameterOverrides"})
        if unknown:
            raise BadRequest(f"Unknown schedule field {unknown[0][:60]!r}; allowed: schedule, parameterOverrides.")
        given = data.get("schedule")
        cron = cron_from_schedule(given)  # refuses anything but an object of the five lists
        spec = {field: dict(given or {})[field] for field in SCHEDULE_FIELDS}
        return cron, spec, values_mapping(data.get("parameterOverrides"), "parameterOverrides")

    @app.post(f"{JOBS}/{{job_id}}/schedules/", status_code=201, summary="Schedule a job")
    async def create_schedule(job_id: str, request: Request) -> Response:
        user = check(request)
        cron, spec, overrides = schedule_body(await json_body(request))
        policy = await run_in_threadpool(jobs.create_schedule, job_id, cron, spec, overrides)
        return json_response(schedule_answer(policy, user), 201)

    @app.get(f"{JOBS}/{{job_id}}/schedules/", summary="A job's schedules")
    async def list_schedules(job_id: str, request: Request) -> Response:
        user = check(request)
        found = await run_in_threadpool(jobs.list_schedules, job_id)
        return json_response(paginate(request, [schedule_answer(p, user) for p in found]))

    @app.patch(f"{JOBS}/{{job_id}}/schedules/{{schedule_id}}/", summary="Change a job's schedule")
    async def update_schedule(job_id: str, schedule_id: str, request: Request) -> Response:
        user = check(request)
        data = await json_body(request)
        await run_in_threadpool(jobs.get_schedule, job_id, schedule_id)
        changes: dict[str, Any] = {}
        if "schedule" in data:
            cron, spec, _ = schedule_body({"schedule": data["schedule"]})
            changes.update(schedule=cron, scheduleSpec=spec)
        if "parameterOverrides" in data:
            changes["parameterOverrides"] = values_mapping(data["parameterOverrides"], "parameterOverrides")
        unknown = sorted(set(data) - {"schedule", "parameterOverrides"})
        if unknown:
            raise BadRequest(f"Unknown schedule field {unknown[0][:60]!r}; allowed: schedule, parameterOverrides.")
        policy = await run_in_threadpool(jobs.update_policy, schedule_id, changes)
        return json_response(schedule_answer(policy, user))

    @app.delete(f"{JOBS}/{{job_id}}/schedules/{{schedule_id}}/", status_code=204, summary="Delete a job's schedule")
    async def delete_schedule(job_id: str, schedule_id: str, request: Request) -> Response:
        check(request)
        await run_in_threadpool(jobs.get_schedule, job_id, schedule_id)
        await run_in_threadpool(jobs.delete_policy, schedule_id)
        return Response(status_code=204)

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
        return json_response(paginate(request, found))

    def own_policy(deployment_id: str, policy_id: str) -> dict[str, Any]:
        policy = jobs.get_policy(policy_id)
        if policy["deploymentId"] != deployment_id:
            raise NotFound(f"Retraining policy {policy_id} of deployment {deployment_id} was not found.")
        return policy

    @app.patch(f"{policies}/{{policy_id}}/", summary="Change a retraining policy")
    async def update_policy(deployment_id: str, policy_id: str, request: Request) -> Response:
        check(request)
        data = await json_body(request)
        await run_in_threadpool(own_policy, deployment_id, policy_id)
        return json_response(await run_in_threadpool(jobs.update_policy, policy_id, data))

    @app.delete(f"{policies}/{{policy_id}}/", status_code=204, summary="Delete a retraining policy and its schedule")
    async def delete_policy(deployment_id: str, policy_id: str, request: Request) -> Response:
        check(request)
        await run_in_threadpool(own_policy, deployment_id, policy_id)
        await run_in_threadpool(jobs.delete_policy, policy_id)
        return Response(status_code=204)

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
