"""Answer a real API Gateway event from a built bundle alone (no venv, no repo source on the path).

Proves the build (and the stripping) left everything the handler imports, by running it in an
isolated interpreter whose path holds only the function folder, the core layer and boto3 (which
the Lambda runtime provides), with the models layer as its storage, as Lambda would mount them.

    python scripts/smoke_bundle.py .aws-sam/host
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = """
import json, sys, types
sys.path[:0] = [{function!r}, {layer!r}, {runtime!r}]
import app
assert app.__file__.startswith({function!r}), app.__file__
event = json.load(open({event!r}))
context = types.SimpleNamespace(function_name="PredictFunction", function_version="1", memory_limit_in_mb=1024,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:PredictFunction",
    aws_request_id="smoke", log_group_name="g", log_stream_name="s", get_remaining_time_in_millis=lambda: 1000)
response = app.handler(event, context)
import uvicorn, drcompat_lambda.web  # run.sh's needs (FrontDoor=FunctionUrl, streaming) are in the layer too
print("RESULT " + json.dumps(response))
"""


def answer(build: Path, function: str, event: str) -> dict | None:
    """The function's response to the event file, from the built bundle alone (None: it failed)."""
    program = PROGRAM.format(
        function=str((build / function).resolve()),
        layer=str((build / "CoreLayer" / "python").resolve()),
        runtime=str((build / "runtime-provided").resolve()),  # what /var/runtime holds in Lambda
        event=str(ROOT / "events" / event),
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(build.resolve())),
        "DRC_STORAGE_BACKEND": "local",
        "DRC_STORAGE_ROOT": str((build / "ModelsLayer" / "drcompat-models").resolve()),
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    # -I: isolated (no user site, no PYTHON* variables); -S: no site-packages at all.
    command = [sys.executable, "-I", "-S", "-c", program]
    done = subprocess.run(command, env=env, capture_output=True, text=True)  # noqa: S603 - our own program
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
        return None
    return dict(json.loads(lines[-1][len("RESULT ") :]))


def main(build: Path) -> int:
    status = 0
    for function, event, rows in (
        ("PredictFunction", "predict-csv.json", 20),
        ("ManagementFunction", "management-list-deployments.json", 4),
    ):
        response = answer(build, function, event)
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
