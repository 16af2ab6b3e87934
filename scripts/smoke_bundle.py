"""Answer a real API Gateway event from a built bundle alone (no venv, no repo source on the path).

Proves the build (and the stripping) left everything the handler imports, by running it in an
isolated interpreter whose path holds only the function folder, the core layer and boto3 (which
the Lambda runtime provides), with the models layer as its storage, as Lambda would mount them.

    python scripts/smoke_bundle.py .aws-sam/host
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = """
import json, sys, types
sys.path[:0] = [{function!r}, {layer!r}, {runtime!r}]
import app
assert app.__file__.startswith({function!r}), app.__file__
event = json.load(open({event!r}))
if {token!r}:
    event["headers"]["Authorization"] = event["multiValueHeaders"]["Authorization"][0] = "Bearer " + {token!r}
context = types.SimpleNamespace(function_name="PredictFunction", function_version="1", memory_limit_in_mb=1024,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:PredictFunction",
    aws_request_id="smoke", log_group_name="g", log_stream_name="s", get_remaining_time_in_millis=lambda: 1000)
response = app.handler(event, context)
import uvicorn, drcompat_lambda.web  # run.sh's needs (FrontDoor=FunctionUrl, streaming) are in the layer too
print("RESULT " + json.dumps(response))
"""


OPERATOR_TOKEN = "smoke-operator-token-0123456789"  # noqa: S105 - a throwaway token for this check


def operator_registry(models: Path, into: Path) -> Path:
    """A copy of the models layer whose registry also holds an operator's token (the public demo
    token may only predict), as an operator's ``drcompat tokens create`` would add it."""
    shutil.copytree(models, into)
    path = into / "deployments.yaml"
    document = yaml.safe_load(path.read_text())
    digest = hashlib.sha256(OPERATOR_TOKEN.encode()).hexdigest()
    document["tokens"]["smoke-operator"] = {"sha256": digest, "manageDeployments": True}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return into


def answer(build: Path, function: str, event: str, operator: bool = False) -> dict | None:
    """The function's response to the event file, from the built bundle alone (None: it failed)."""
    models = (build / "ModelsLayer" / "drcompat-models").resolve()
    if operator:
        models = operator_registry(models, Path(tempfile.mkdtemp(prefix="smoke-")) / "models")
    program = PROGRAM.format(
        token=OPERATOR_TOKEN if operator else "",
        function=str((build / function).resolve()),
        layer=str((build / "CoreLayer" / "python").resolve()),
        runtime=str((build / "runtime-provided").resolve()),  # what /var/runtime holds in Lambda
        event=str(ROOT / "events" / event),
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(build.resolve())),
        "DRC_STORAGE_BACKEND": "local",
        "DRC_STORAGE_ROOT": str(models),
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    # -I: isolated (no user site, no PYTHON* variables); -S: no site-packages at all.
    command = [sys.executable, "-I", "-S", "-c", program]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True)  # noqa: S603 - our own program
    finally:
        if operator:
            shutil.rmtree(models.parent, ignore_errors=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
        return None
    return dict(json.loads(lines[-1][len("RESULT ") :]))


def main(build: Path) -> int:
    status = 0
    for function, event, rows, operator in (
        ("PredictFunction", "predict-csv.json", 20, False),
        ("ManagementFunction", "management-list-deployments.json", 5, True),
    ):
        response = answer(build, function, event, operator)
        if response is None:
            status = 1
            continue
        body = json.loads(response["body"])
        ok = response["statusCode"] == 200 and len(body["data"]) == rows
        print(
            f"bundle smoke test ({function}): status {response['statusCode']}, {len(body.get('data', []))} rows -> "
            f"{'ok' if ok else 'FAILED'}"
        )
        status = status if ok else 1
    return status


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
