"""The jobs CLI over the same core the service uses.

python -m drcompat.jobs new my-job [--template sample|retraining] [--file run.sh]
python -m drcompat.jobs run my-job --runtime-params-file values.yaml [--network none]
python -m drcompat.jobs gallery
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from drcompat.config import Settings, job_endpoint
from drcompat.errors import ApiError, BadRequest
from drcompat.jobs.credentials import LocalCredentialStore
from drcompat.jobs.folder import load_job
from drcompat.jobs.limits import JobLimits
from drcompat.jobs.parameters import environment, load_values_file, resolve, secrets
from drcompat.jobs.runner import run_job
from drcompat.jobs.templates import STARTING_FILES, gallery, new_job

EXIT_CODES = {"succeeded": 0, "failed": 1, "timedOut": 124}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drcompat.jobs", description="Custom jobs: create and run.")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="create a job folder from a template")
    new.add_argument("folder", type=Path)
    new.add_argument("--template", default="sample")
    new.add_argument("--file", choices=STARTING_FILES, help="only this starting file (replaces it)")
    commands.add_parser("gallery", help="list the templates")
    credential = commands.add_parser("credential", help="add a named credential to the local store")
    credential.add_argument("name")
    credential.add_argument("--from-file", type=Path, required=True, help="YAML with credentialType and its fields")
    credential.add_argument("--store", type=Path, default=Settings().credentials_file)
    run = commands.add_parser("run", help="run a job folder and stream its log")
    run.add_argument("folder", type=Path)
    run.add_argument("--runtime-params-file", type=Path, help="YAML name -> value, as DRUM takes it")
    run.add_argument(
        "--credentials", type=Path, default=Settings().credentials_file, help="credential store (YAML, mode 600)"
    )
    run.add_argument("--entry", help="entry point .sh (default run.sh)")
    run.add_argument("--timeout", type=float, default=3600.0, help="seconds")
    run.add_argument("--network", choices=["public", "none"], default="public")
    run.add_argument(
        "--endpoint",
        default=job_endpoint(Settings()),
        help="DATAROBOT_ENDPOINT for the job (default: the local server)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "new":
            for path in new_job(args.folder, args.template, args.file):
                print(f"wrote {path}")
            return 0
        if args.command == "credential":
            payload = yaml.safe_load(args.from_file.read_text())
            if not isinstance(payload, dict):
                raise BadRequest("The credential file must be a mapping with credentialType and its fields.")
            LocalCredentialStore(args.store).put(args.name, payload)
            print(f"stored credential {args.name!r} in {args.store} (mode 600)")
            return 0
        if args.command == "gallery":
            for name, title in gallery().items():
                print(f"{name:12} {title}")
            return 0
        return _run(args)
    except ApiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file named on the command line: a message, not a traceback
        print(f"error: {exc.strerror or exc}: {exc.filename}", file=sys.stderr)
        return 2
    except yaml.YAMLError as exc:
        print(f"error: not valid YAML: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    job = load_job(args.folder, args.entry)
    values = (
        load_values_file(args.runtime_params_file.read_bytes(), args.runtime_params_file.name)
        if args.runtime_params_file
        else {}
    )
    store = LocalCredentialStore(args.credentials) if args.credentials and args.credentials.exists() else None
    parameters = resolve(job.metadata, values, credentials=store)
    env = {**environment(parameters), "DATAROBOT_ENDPOINT": args.endpoint}
    result = run_job(
        job.path,
        env,
        entry=job.entry,
        timeout_seconds=args.timeout,
        network=args.network,
        secrets=secrets(parameters),
        on_line=lambda line: print(line, flush=True),
        limits=JobLimits.from_settings(Settings()),
    )
    print(f"run {result.status} in {result.duration_seconds:.1f} s (exit code {result.exit_code})", file=sys.stderr)
    return EXIT_CODES[result.status]
