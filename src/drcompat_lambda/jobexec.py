"""The job execution function (user code) and the platform's side of it.

``build_handler`` is the execution function: it runs one job from a request the platform signed
(see ``drcompat.jobs.remote``) and needs no AWS permission at all; its role has none beyond its
logs, so a job that reads the function's credentials gains nothing. Before running user code it
makes its own process non-dumpable (the job cannot read its memory or environment).

``LambdaExecutor`` is the platform's side, used by the job runner function in place of a local
run: it stages the job's files, presigns one GET and one size-limited POST for this run only,
invokes the execution function and waits, then reads the output back and cleans up.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger

from drcompat.config import Settings
from drcompat.jobs.limits import JobLimits
from drcompat.jobs.remote import execute, pack, unpack_output
from drcompat.jobs.runner import RunResult

logger = Logger(service="drcompat-jobexec")
STAGING = "runs-staging"


def build_handler() -> Any:
    limits = JobLimits.from_settings(Settings())
    isolated = os.environ.get("DRC_NETWORK_ISOLATED_BY_PLATFORM", "").lower() == "true"

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if not isinstance(event, dict) or "jobArchiveUrl" not in event or "output" not in event:
            return {"status": "refused", "message": "The execution function expects a run request from the platform."}
        answer = execute(event, limits, isolated)
        logger.info("job executed", extra={"runId": str(event.get("runId"))[:40], "status": answer.get("status")})
        return answer

    return handler


class LambdaExecutor:
    """Runs a job in the execution function; called like ``run_job``. Each resource bundle may have
    an execution function of its own size (Lambda memory, and the CPU that comes with it)."""

    def __init__(
        self,
        function_name: str,
        bucket: str,
        prefix: str = "",
        s3: Any = None,
        lambda_client: Any = None,
        functions: dict[str, str] | None = None,
    ):
        import boto3
        from botocore.config import Config

        self.function_name = function_name
        self.functions = functions or {}  # resource bundle id -> the execution function of that size
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.s3 = s3 or boto3.client("s3")
        long_wait = Config(read_timeout=900, connect_timeout=5, retries={"max_attempts": 0})
        self.lambda_client = lambda_client or boto3.client("lambda", config=long_wait)

    def function_for(self, limits: JobLimits) -> str:
        """The function sized for the run's resource bundle (its memory), else the default one."""
        from drcompat.jobs.environments import resource_bundles

        for bundle in resource_bundles():
            if bundle.memory_bytes == limits.memory_bytes and bundle.id in self.functions:
                return self.functions[bundle.id]
        return self.function_name

    def __call__(
        self,
        folder: Path,
        environment: dict[str, str],
        *,
        entry: str | None = None,
        timeout_seconds: float = 3600,
        network: str = "public",
        secrets: list[str] | None = None,
        output_dir: Path | None = None,
        limits: JobLimits | None = None,
        run_name: str = "",
        **_: Any,
    ) -> RunResult:
        limits = limits or JobLimits()
        base = f"{self.prefix}{STAGING}/{run_name}/"
        job_key, output_key = base + "job.zip", base + "output.zip"
        expires = int(timeout_seconds) + 300
        started = time.monotonic()
        self.s3.put_object(Bucket=self.bucket, Key=job_key, Body=pack(Path(folder), limits.archive_max_bytes))
        try:
            request = {
                "runId": run_name,
                "jobArchiveUrl": self.s3.generate_presigned_url(
                    "get_object", Params={"Bucket": self.bucket, "Key": job_key}, ExpiresIn=expires
                ),
                "output": self.s3.generate_presigned_post(
                    self.bucket,
                    output_key,
                    Conditions=[["content-length-range", 0, limits.disk_quota_bytes + limits.log_max_bytes]],
                    ExpiresIn=expires,
                ),
                "environment": environment,
                "entry": entry,
                "timeoutSeconds": timeout_seconds,
                "networkAccess": network,
                "secrets": secrets or [],
            }
            response = self.lambda_client.invoke(
                FunctionName=self.function_for(limits),
                InvocationType="RequestResponse",
                Payload=json.dumps(request).encode(),
            )
            answer = json.loads(response["Payload"].read() or b"{}")
            if response.get("FunctionError") or answer.get("status") == "refused":
                reason = answer.get("message") or answer.get("errorMessage") or "the execution function failed"
                return RunResult("failed", None, time.monotonic() - started, f"run refused: {reason}\n")
            log = ""
            try:
                bundle = self.s3.get_object(Bucket=self.bucket, Key=output_key)["Body"].read()
                log = unpack_output(bundle, output_dir or Path(folder).parent / "output", limits)
            except self.s3.exceptions.NoSuchKey:
                log = "the execution function left no output\n"
            status = str(answer.get("status", "failed"))
            code = answer.get("exitCode")
            return RunResult(status, code if isinstance(code, int) else None, time.monotonic() - started, log)
        finally:
            for key in (job_key, output_key):
                self.s3.delete_object(Bucket=self.bucket, Key=key)
