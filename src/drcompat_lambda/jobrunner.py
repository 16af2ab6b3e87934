"""The job runner's Lambda entry: EventBridge Scheduler payloads and jobs-API requests.

Scheduler payloads (the ``Input`` of a schedule):

* ``{"action": "run-due-policies"}``: the template's default schedule; runs every policy due.
* ``{"action": "run-policy", "policyId": ...}``: a per-policy schedule.
* ``{"action": "run-job", "jobId": ..., "runtimeParameterValues": {...}, "deploymentId": ...}``.
* ``{"action": "compact-monitoring"}``: hourly; folds each finished hour's monitoring parts.

An API Gateway event is served by the same FastAPI app as the prediction functions (Mangum), so
the custom-jobs API can be routed here; runs it starts finish within this invocation.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from mangum import Mangum

from drcompat.api import create_app
from drcompat.config import Settings
from drcompat.deployments import DeploymentRegistry
from drcompat.errors import ApiError
from drcompat.jobs.credentials import credential_store
from drcompat.jobs.limits import JobLimits
from drcompat.jobs.service import JobService
from drcompat.monitoring.store import compact_recent
from drcompat.storage import storage_from_settings
from drcompat_lambda.schedules import EventBridgeSchedules

logger = Logger(service="drcompat-jobrunner")
ACTIONS = ("run-due-policies", "run-policy", "run-job", "compact-monitoring")
# A run still "running" this long past its time limit was lost (its invocation timed out or
# crashed): the scheduled tick marks it failed and revokes its token.
STALE_MARGIN_SECONDS = 1800.0


def summary(run: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "jobId", "policyId", "status", "exitCode", "candidateModelId", "decision")
    return {k: run.get(k) for k in keys if k in run}


def async_launcher(function_arn: str) -> Any:
    """Start a queued run in a separate, asynchronous invocation of this function."""
    import json

    import boto3

    client = boto3.client("lambda")

    def launch(job_id: str, values: dict[str, Any], deployment_id: str | None, run_id: str) -> None:
        payload: dict[str, Any] = {"action": "run-job", "jobId": job_id, "runtimeParameterValues": values}
        payload.update(runId=run_id, deploymentId=deployment_id)
        client.invoke(FunctionName=function_arn, InvocationType="Event", Payload=json.dumps(payload).encode())

    return launch


def build_handler() -> Any:
    settings = Settings()
    storage = storage_from_settings(settings)
    schedules = None
    target, role = os.environ.get("DRC_JOBRUNNER_ARN"), os.environ.get("DRC_SCHEDULER_ROLE_ARN")
    if target and role:  # policies created through the API get their own EventBridge schedule
        schedules = EventBridgeSchedules(target, role, endpoint_url=os.environ.get("DRC_SCHEDULER_ENDPOINT_URL"))
    function_arn = os.environ.get("DRC_JOBRUNNER_ARN")
    executor = None
    exec_function = os.environ.get("DRC_JOBEXEC_FUNCTION")
    if exec_function:  # user code runs in the execution function, never in this platform process
        import boto3

        from drcompat_lambda.jobexec import LambdaExecutor

        s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
        sized = json.loads(os.environ.get("DRC_JOBEXEC_FUNCTIONS") or "{}")  # bundle id -> function name
        executor = LambdaExecutor(exec_function, settings.bucket, settings.bucket_prefix, s3=s3, functions=sized)
    jobs = JobService(
        storage,
        credentials=credential_store(settings),
        endpoint=settings.public_url,
        schedules=schedules,
        platform_isolated=os.environ.get("DRC_NETWORK_ISOLATED_BY_PLATFORM", "").lower() == "true",
        launcher=async_launcher(function_arn) if function_arn else None,
        limits=JobLimits.from_settings(settings),
        executor=executor,
    )
    app = create_app(settings, jobs=jobs)
    state_machine = os.environ.get("DRC_BATCH_STATE_MACHINE_ARN")
    if state_machine:  # batch prediction jobs run on the Step Functions engine
        from drcompat_lambda.batch import execution_starter

        app.state.batch_start = execution_starter(state_machine)
    asgi = Mangum(app, lifespan="off")

    def scheduled(event: dict[str, Any]) -> dict[str, Any]:
        action = event.get("action")
        if action not in ACTIONS:
            logger.warning("unknown job runner event", extra={"action": str(action)[:64]})
            return {"status": 400, "message": f"Unknown action {action!r}: expected one of {list(ACTIONS)}."}
        if action == "compact-monitoring":
            deployments = DeploymentRegistry(storage, 0).snapshot().deployments
            folded = compact_recent(storage, deployments, datetime.now(UTC))
            logger.info("monitoring compacted", extra={"parts": folded})
            return {"status": 200, "action": action, "parts": folded}
        try:
            if action == "run-due-policies":
                stale = jobs.recover_interrupted_runs(stale_after_seconds=STALE_MARGIN_SECONDS)
                if stale:
                    logger.warning("runs left running marked failed", extra={"runs": stale[:50]})
                runs = jobs.run_due_policies()
            elif action == "run-policy":
                runs = [jobs.run_policy(str(event.get("policyId", "")))]
            else:
                values = event.get("runtimeParameterValues") or {}
                run_id = event.get("runId")
                job_id = str(event.get("jobId", ""))
                runs = [jobs.start_run(job_id, values, event.get("deploymentId"), run_id=run_id)]
        except ApiError as exc:
            return {"status": exc.status, "message": exc.message}
        logger.info("scheduled run", extra={"action": action, "runs": [summary(r) for r in runs]})
        return {"status": 200, "action": action, "runs": [summary(r) for r in runs]}

    @logger.inject_lambda_context
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if isinstance(event, dict) and "httpMethod" in event:
            return asgi(event, context)
        if not isinstance(event, dict):
            return {"status": 400, "message": "The job runner expects a JSON object event."}
        return scheduled(event)

    return handler
