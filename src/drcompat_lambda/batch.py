"""BatchFunction: the Step Functions tasks of a batch job (plan, score one chunk, assemble, fail).

Each state invokes this function with ``{"action": ..., "jobId": ...}``; the work is in
``drcompat.batch.steps``. A domain failure (bad input, unreadable object) is raised as
``BatchJobError`` so the state machine's Catch records its message on the job; credentials are
looked up here by name, never carried in the state input (which the execution history keeps).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from drcompat.batch import steps
from drcompat.batch.jobs import FAILED, BatchJob, JobStore, job_store
from drcompat.config import Settings
from drcompat.errors import ApiError
from drcompat.jobs.credentials import credential_store
from drcompat.predict import PredictionService

logger = Logger(service="drcompat-batch")
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class BatchJobError(Exception):
    """The name the state machine's Catch sees for failures whose message is safe to show."""


def build_handler(settings: Settings | None = None, client: Any = None) -> Handler:
    settings = settings or Settings()
    if client is None:
        import boto3

        client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
    prefix = "/".join(p for p in (settings.bucket_prefix.strip("/"), "batch") if p) + "/"
    ws = steps.Workspace(client, settings.bucket, prefix, settings.s3_endpoint_url)
    store: JobStore = job_store(settings)
    service = PredictionService(settings)
    service.warm()
    found = credential_store(settings)
    credentials = found.get if found else None

    def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        action, job_id = event.get("action"), str(event.get("jobId", ""))
        try:
            if action == "plan":
                return steps.plan(ws, store, job_id, credentials)
            if action == "score":
                return steps.score(service, ws, store, event, credentials)
            if action == "assemble":
                answer = steps.assemble(ws, store, job_id, credentials)
                if answer.get("status") == FAILED:  # recorded; the execution must fail too
                    raise BatchJobError(str(answer.get("statusDetails")))
                return answer
            if action == "fail":
                return steps.fail(ws, store, job_id, event.get("error"))
        except ApiError as exc:
            logger.warning("batch step refused", extra={"action": action, "job_id": job_id, "reason": exc.message})
            raise BatchJobError(exc.message) from exc
        raise BatchJobError(f"Unknown action {str(action)[:40]!r}.")

    return handler


def execution_starter(state_machine_arn: str, endpoint_url: str | None = None) -> Callable[[BatchJob], None]:
    """How the jobs API starts a job in AWS: one execution of the state machine, named by the job."""
    import boto3

    client = boto3.client("stepfunctions", endpoint_url=endpoint_url)

    def start(job: BatchJob) -> None:
        payload = {"jobId": job.id, "numConcurrent": job.num_concurrent}
        client.start_execution(stateMachineArn=state_machine_arn, name=job.id, input=json.dumps(payload))

    return start
