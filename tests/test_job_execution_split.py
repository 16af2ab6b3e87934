"""AWS: the platform (job runner) never runs user code; the execution function does, holding only a
presigned GET of this run's files and a presigned, size-limited POST of this run's output.

Against moto's S3 server on 127.0.0.1, with the execution function's real handler answering a
real invoke payload (the fake Lambda client only carries the JSON across, as Lambda would).
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from drcompat.jobs.limits import JobLimits
from drcompat.jobs.service import JobService
from drcompat.storage.s3 import S3Storage
from drcompat_lambda.jobexec import LambdaExecutor
from s3_server import make_bucket

ROOT = Path(__file__).resolve().parent.parent
METADATA = b"name: split\n"


def exec_handler(monkeypatch):
    monkeypatch.setenv("DRC_JOB_SANDBOX", "off")  # what the template sets: Lambda has no namespaces
    spec = importlib.util.spec_from_file_location("lambda_jobexec_app", ROOT / "functions/jobrunner/exec_app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.handler


class FakeLambda:
    """Carries the payload as JSON to the execution handler and the answer back, as Lambda does."""

    def __init__(self, handler):
        self.handler = handler
        self.payloads: list[dict] = []

    def invoke(self, FunctionName, InvocationType, Payload):
        request = json.loads(Payload)
        self.payloads.append(request)
        context = SimpleNamespace(function_name=FunctionName, aws_request_id="r", memory_limit_in_mb=1024)
        context.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{FunctionName}"
        answer = self.handler(request, context)
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}


@pytest.fixture
def split(s3_endpoint, monkeypatch, tmp_path):
    name = f"split-{uuid.uuid4().hex[:8]}"
    s3 = make_bucket(s3_endpoint, name)
    storage = S3Storage(name, "", s3_endpoint, tmp_path / "dl")
    fake = FakeLambda(exec_handler(monkeypatch))
    executor = LambdaExecutor("stack-jobexec", name, s3=s3, lambda_client=fake)
    jobs = JobService(storage, executor=executor, limits=JobLimits(sandbox="off", disk_quota_bytes=4 * 1024 * 1024))
    return SimpleNamespace(jobs=jobs, s3=s3, bucket=name, fake=fake, storage=storage)


def test_user_code_runs_in_the_execution_function_with_this_runs_output_only(split, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "platform-secret-do-not-leak")
    script = (
        b"env\n"
        b'mkdir -p "$DRC_OUTPUT_DIR/artifacts"\n'
        b'echo report > "$DRC_OUTPUT_DIR/artifacts/report.txt"\n'
        b'echo \'{"rows": 7}\' > "$DRC_OUTPUT_DIR/metrics.json"\n'
        b'ln -s /etc/passwd "$DRC_OUTPUT_DIR/artifacts/passwd"\n'
        b"echo finished\n"
    )
    job = split.jobs.create_job("split", {"run.sh": script, "metadata.yaml": METADATA})
    run = split.jobs.start_run(job["id"])
    log = split.jobs.run_log(job["id"], run["id"])
    assert run["status"] == "succeeded", log
    assert "finished" in log and "AWS_" not in log and "platform-secret" not in log
    assert run["metrics"] == {"rows": 7} and run["artifacts"] == ["report.txt"]  # the link was not followed
    request = split.fake.payloads[0]
    assert set(request) == {
        "runId",
        "jobArchiveUrl",
        "output",
        "environment",
        "entry",
        "timeoutSeconds",
        "networkAccess",
        "secrets",
    }
    assert request["output"]["fields"]["key"] == f"runs-staging/{run['id']}/output.zip"  # one key, this run's
    assert not any(k.startswith("AWS_") for k in request["environment"])
    leftovers = split.s3.list_objects_v2(Bucket=split.bucket, Prefix="runs-staging/").get("KeyCount", 0)
    assert leftovers == 0  # staging cleaned up


def test_the_output_post_is_signed_for_one_key_and_a_size_range(split):
    """S3 enforces a presigned POST's policy (moto does not, so the signed policy is read here)."""
    job = split.jobs.create_job("tiny", {"run.sh": b"echo hi\n", "metadata.yaml": METADATA})
    run = split.jobs.start_run(job["id"])
    post = split.fake.payloads[0]["output"]
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    conditions = policy["conditions"]
    assert {"key": f"runs-staging/{run['id']}/output.zip"} in conditions
    limits = split.jobs.limits
    assert ["content-length-range", 0, limits.disk_quota_bytes + limits.log_max_bytes] in conditions
    assert {"bucket": split.bucket} in conditions and "expiration" in policy


def test_an_execution_function_that_dies_leaves_a_failed_run_and_no_staging(split):
    class TimedOut:
        def invoke(self, **_):
            answer = {"errorMessage": "Task timed out after 900.00 seconds", "errorType": "Sandbox.Timedout"}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(answer).encode())}

    split.jobs.executor.lambda_client = TimedOut()
    job = split.jobs.create_job("slow", {"run.sh": b"sleep 1000\n", "metadata.yaml": METADATA})
    run = split.jobs.start_run(job["id"])
    assert run["status"] == "failed" and run["exitCode"] is None
    assert "Task timed out" in split.jobs.run_log(job["id"], run["id"])
    assert split.s3.list_objects_v2(Bucket=split.bucket, Prefix="runs-staging/").get("KeyCount", 0) == 0


def test_the_platform_function_holds_no_user_code_path_without_the_execution_function():
    template = (ROOT / "template.yaml").read_text()
    runner = template.split("  JobRunnerFunction:")[1].split("\n  JobExecFunction:")[0]
    execution = template.split("  JobExecFunction:")[1].split("\n  Job")[0].split("\nOutputs:")[0]
    assert "DRC_JOBEXEC_FUNCTION" in runner and 'DRC_JOB_SANDBOX: "off"' not in runner
    assert "S3CrudPolicy" not in execution and "secretsmanager" not in execution and "Policies" in execution


def test_logs_stream_from_the_bucket_in_pieces(split):
    from drcompat.storage import StorageKeyError

    log = b"x" * (2 * 1024 * 1024 + 5)
    split.storage.write("jobs/a/runs/b/log.txt", log)
    pieces = list(split.storage.stream("jobs/a/runs/b/log.txt", 1024 * 1024))
    assert [len(p) for p in pieces] == [1024 * 1024, 1024 * 1024, 5] and b"".join(pieces) == log
    with pytest.raises(StorageKeyError):
        split.storage.stream("jobs/a/runs/b/none.txt")


class NamingLambda(FakeLambda):
    """Also records which function each run was sent to."""

    def __init__(self, handler):
        super().__init__(handler)
        self.names: list[str] = []

    def invoke(self, FunctionName, InvocationType, Payload):
        self.names.append(FunctionName)
        return super().invoke(FunctionName, InvocationType, Payload)


def test_each_resource_bundle_runs_in_the_function_of_its_size(split, monkeypatch):
    from drcompat.jobs.environments import resource_bundles

    sized = {b.id: f"stack-jobexec-{b.id.replace('.', '-')}" for b in resource_bundles()}
    fake = NamingLambda(exec_handler(monkeypatch))
    split.jobs.executor = LambdaExecutor(
        "stack-jobexec", split.bucket, s3=split.s3, lambda_client=fake, functions=sized
    )
    job = split.jobs.create_job("sized", {"run.sh": b"echo sized\n", "metadata.yaml": METADATA})
    for bundle in ("cpu.large", "cpu.micro"):
        split.jobs.update_job(job["id"], resourceBundleId=bundle)
        assert split.jobs.start_run(job["id"])["status"] == "succeeded"
    split.jobs.update_job(job["id"], resourceBundleId=None)  # no bundle: the default one (cpu.small)
    split.jobs.start_run(job["id"])
    assert fake.names == ["stack-jobexec-cpu-large", "stack-jobexec-cpu-micro", "stack-jobexec-cpu-small"]


def test_the_template_has_an_execution_function_per_bundle_the_runner_may_invoke():
    import yaml

    from drcompat.jobs.environments import resource_bundles
    from test_front_doors import CfnLoader

    resources = yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)["Resources"]
    runner = resources["JobRunnerFunction"]["Properties"]
    mapping = json.loads(runner["Environment"]["Variables"]["DRC_JOBEXEC_FUNCTIONS"]["Sub"])
    invocable = {
        p["LambdaInvokePolicy"]["FunctionName"]["Ref"] for p in runner["Policies"] if "LambdaInvokePolicy" in p
    }
    for bundle in resource_bundles():
        (logical,) = [
            name
            for name, resource in resources.items()
            if resource["Properties"].get("FunctionName") == {"Sub": mapping[bundle.id]}
        ]
        function = resources[logical]["Properties"]
        assert function["MemorySize"] == bundle.lambda_memory_mb
        assert function["Policies"] == []  # user code: no permission beyond its logs
        assert logical in invocable
