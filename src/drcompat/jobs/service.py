"""Jobs, runs and retraining policies over the storage interface (local folder or S3).

Layout in the bucket::

    jobs/<jobId>/job.yaml                 name, entry point, settings, parameter values, key-values
    jobs/<jobId>/files/<path>             the job's files (run.sh, metadata.yaml, ...)
    jobs/<jobId>/runs/<runId>/run.yaml    status, times, exit code, outputs, promotion decision
    jobs/<jobId>/runs/<runId>/log.txt     stdout and stderr, secrets masked
    policies/<policyId>.yaml              deployment, job, schedule, tolerance, last run

A run copies the job's files into a fresh folder, resolves its runtime parameters (defaults,
then the job's values, then the run's), runs it, and when the job leaves a candidate model in
``$DRC_OUTPUT_DIR`` publishes it; a run for a retraining policy then promotes it (or records why
not) on the policy's deployment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from drcompat.deployments import DeploymentRegistry
from drcompat.errors import ApiError, BadRequest, NotFound, PayloadTooLarge
from drcompat.jobs import environments as catalogue
from drcompat.jobs.client_shape import TERMINAL, file_item, item_id, runtime_parameters
from drcompat.jobs.credentials import CredentialStore
from drcompat.jobs.folder import load_job, safe_name, unpack_archive
from drcompat.jobs.limits import JobLimits
from drcompat.jobs.metadata import parse_metadata
from drcompat.jobs.parameters import environment, resolve, secrets
from drcompat.jobs.publish import new_object_id, promote, publish_candidate
from drcompat.jobs.requirements import install_requirements
from drcompat.jobs.runner import RUN_FOLDER_PREFIX, RunResult, check_entry_name, run_job
from drcompat.jobs.schedule import parse_schedule, utcnow
from drcompat.jobs.tokens import issue_run_token, revoke_run_token
from drcompat.monitoring.triggers import trigger_reason, validate_trigger
from drcompat.storage import Storage, StorageKeyError
from drcompat.yamlio import load_yaml

SETTINGS_DEFAULTS: dict[str, Any] = {
    "networkAccess": "public",
    "timeoutSeconds": 3600,
    "runtimeParameterValues": {},
    "tags": {},
    "metrics": {},
    "trainingParameters": {},
    "artifacts": {},
    "environmentId": None,
    "environmentVersionId": None,
    "resourceBundleId": None,
}
EDITABLE = set(SETTINGS_DEFAULTS) | {"name", "description", "entryPoint"}
REQUIREMENTS = "requirements.txt"


def check_by_reference(values: Any) -> None:
    """Runtime parameter values the service keeps may name a stored credential, never hold one."""
    if not isinstance(values, dict):
        raise BadRequest("runtimeParameterValues must be a mapping.")
    for name, value in values.items():
        if isinstance(value, dict | list):
            raise BadRequest(
                f"Runtime parameter {str(name)[:60]!r}: give a credential by the name of a stored credential "
                "(the credential store), not its values."
            )


def _dump(data: dict[str, Any]) -> bytes:
    return yaml.safe_dump(data, sort_keys=False).encode()


class JobService:
    def __init__(
        self,
        storage: Storage,
        credentials: CredentialStore | None = None,
        endpoint: str | None = None,
        extra_environment: dict[str, str] | None = None,
        schedules: Any = None,
        platform_isolated: bool = False,
        launcher: Callable[[str, dict[str, Any], str | None, str], None] | None = None,
        limits: JobLimits | None = None,
        executor: Callable[..., RunResult] | None = None,
    ) -> None:
        self.storage = storage
        self.executor = executor  # runs user code elsewhere (the execution function in AWS)
        self.limits = limits or JobLimits()
        self.schedules = schedules  # a ScheduleBackend (EventBridge in AWS), told of new policies
        self.platform_isolated = platform_isolated
        self.launcher = launcher  # starts a queued run elsewhere (an async Lambda invoke in AWS)
        self.credentials = credentials
        self.endpoint = endpoint
        self.extra_environment = extra_environment or {}
        self._policy_lock = threading.Lock()
        self._processes: dict[str, Any] = {}  # run id -> its process (this process's runs), for cancel
        self._canceled: set[str] = set()

    # --- jobs -------------------------------------------------------------------------------
    def create_job(self, name: str, files: dict[str, bytes] | None = None, **settings: Any) -> dict[str, Any]:
        if not name or not isinstance(name, str):
            raise BadRequest("A job needs a name.")
        unknown = sorted(set(settings) - EDITABLE - {"name"})
        if unknown:  # "id" included: ids are assigned by the server
            raise BadRequest(f"Unknown job setting {unknown[0][:60]!r}; allowed: {', '.join(sorted(EDITABLE))}.")
        job_id = new_object_id()
        now = utcnow().isoformat()
        record = {
            "id": job_id,
            "name": name,
            "description": "",
            "entryPoint": None,
            "created": now,
            **SETTINGS_DEFAULTS,
        }
        record["updated"] = now
        record["environmentId"] = catalogue.default_environment()["id"]
        record["networkAccess"] = self.limits.default_network
        self._check_settings(settings)
        record.update({k: v for k, v in settings.items() if v is not None or k == "entryPoint"})
        self.storage.write(f"jobs/{job_id}/job.yaml", _dump(record))
        for file_name, content in (files or {}).items():
            self.put_file(job_id, file_name, content)
        return self.get_job(job_id)

    def get_job(self, job_id: str) -> dict[str, Any]:
        try:
            record = load_yaml(self.storage.read(f"jobs/{self._id(job_id)}/job.yaml"))
        except StorageKeyError as exc:
            raise NotFound(f"Custom job {job_id} was not found.") from exc
        record = dict(record)
        if not record.get("environmentId"):  # jobs stored before environments were chosen per job
            record["environmentId"] = catalogue.default_environment()["id"]
        created = record.get("fileCreated") or {}
        names = self.list_files(job_id)
        record["items"] = [file_item(job_id, n, str(created.get(n, record.get("created", "")))) for n in names]
        record["entryPointPath"] = record.get("entryPoint") or ("run.sh" if "run.sh" in names else None)
        try:
            metadata = parse_metadata(self.read_file(job_id, "metadata.yaml")) if "metadata.yaml" in names else None
        except ApiError:
            metadata = None
        record["runtimeParameters"] = runtime_parameters(metadata, record.get("runtimeParameterValues") or {})
        return record

    def job_for_client(self, job_id: str) -> dict[str, Any]:
        """The record as DataRobot's client reads it: entryPoint is the entry file's item id."""
        record = self.get_job(job_id)
        path = record.pop("entryPointPath")
        record["entryPointPath"] = path
        record["entryPoint"] = item_id(job_id, path) if path else None
        record.pop("fileCreated", None)
        return record

    def entry_path(self, job_id: str, value: str) -> str:
        """An entry point given as a file item id (the client) or a path (our own routes)."""
        for item in self.get_job(job_id)["items"]:
            if value == item["id"]:
                return str(item["filePath"])
        return value

    def delete_job(self, job_id: str) -> None:
        """The job, its files, runs and logs, and the schedules and policies that run it."""
        self.get_job(job_id)
        for policy in self.list_policies():
            if policy.get("jobId") == job_id:
                self.delete_policy(policy["id"])
        for run in self.list_runs(job_id):  # its runs in flight end first
            if run.get("status") not in TERMINAL:
                self.cancel_run(job_id, str(run["id"]))
        for key in self.storage.list(f"jobs/{job_id}/"):
            if not key.endswith("/job.yaml"):
                self.storage.delete(key)
        self.storage.delete(f"jobs/{job_id}/job.yaml")

    def delete_file(self, job_id: str, item: str) -> dict[str, Any]:
        """Remove one file, named by its item id or its path."""
        path = self.entry_path(job_id, item)
        if path not in self.list_files(job_id):
            raise NotFound(f"Job {job_id} has no file item {item[:60]!r}.")
        self.storage.delete(f"jobs/{job_id}/files/{path}")
        return self.get_job(job_id)

    def list_jobs(self) -> list[dict[str, Any]]:
        ids = sorted({key.split("/")[1] for key in self.storage.list("jobs/") if key.endswith("/job.yaml")})
        return [self.get_job(job_id) for job_id in ids]

    def update_job(self, job_id: str, **changes: Any) -> dict[str, Any]:
        record = self.get_job(job_id)
        for derived in ("items", "entryPointPath", "runtimeParameters"):
            record.pop(derived, None)
        unknown = sorted(set(changes) - EDITABLE)
        if unknown:
            raise BadRequest(f"Unknown job setting {unknown[0]!r}; editable: {', '.join(sorted(EDITABLE))}.")
        self._check_settings(changes)
        record.update(changes)
        record["updated"] = utcnow().isoformat()
        self.storage.write(f"jobs/{job_id}/job.yaml", _dump(record))
        return self.get_job(job_id)

    def _check_settings(self, settings: dict[str, Any]) -> None:
        if "name" in settings and (not isinstance(settings["name"], str) or not settings["name"]):
            raise BadRequest("A job's name must be a non-empty string.")
        if "description" in settings and not isinstance(settings["description"], str):
            raise BadRequest("description must be a string.")
        check_entry_name(settings.get("entryPoint"))
        check_by_reference(settings.get("runtimeParameterValues") or {})
        network = settings.get("networkAccess", "public")
        if network not in ("public", "none"):
            raise BadRequest("networkAccess must be public or none.")
        timeout = settings.get("timeoutSeconds", 1)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 1 <= timeout <= 86400:
            raise BadRequest("timeoutSeconds must be a number of seconds between 1 and 86400.")
        for key in ("runtimeParameterValues", "tags", "metrics", "trainingParameters", "artifacts"):
            if key in settings and not isinstance(settings[key], dict):
                raise BadRequest(f"{key} must be a mapping.")
        if settings.get("environmentId") is not None:
            versions = catalogue.versions(str(settings["environmentId"]))  # NotFound for an unknown one
            version = settings.get("environmentVersionId")
            if version is not None and version not in {v["id"] for v in versions}:
                raise NotFound(f"Execution environment version {str(version)[:40]} was not found.")
        if settings.get("resourceBundleId") is not None:
            catalogue.resource_bundle(str(settings["resourceBundleId"]))

    def put_file(self, job_id: str, name: str, content: bytes) -> list[str]:
        """Add or replace a file; metadata.yaml is checked before it is accepted."""
        self.get_job(job_id)
        relative = safe_name(name).as_posix()
        self._check_file(relative, content, set(self.list_files(job_id)))
        self.storage.write(f"jobs/{job_id}/files/{relative}", content)
        self._note_created([relative], job_id)
        return self.list_files(job_id)

    def _note_created(self, names: list[str], job_id: str) -> None:
        key = f"jobs/{job_id}/job.yaml"
        record = dict(load_yaml(self.storage.read(key)))
        now = utcnow().isoformat()
        record["fileCreated"] = {**(record.get("fileCreated") or {}), **dict.fromkeys(names, now)}
        self.storage.write(key, _dump(record))

    def put_archive(self, job_id: str, archive: bytes) -> list[str]:
        """Unpack a zip into the job: every member is checked before any is written."""
        self.get_job(job_id)
        existing = set(self.list_files(job_id))
        with tempfile.TemporaryDirectory() as scratch:
            limits = self.limits
            members = unpack_archive(Path(scratch), archive, limits.archive_max_entries, limits.archive_max_bytes)
            names = [path.relative_to(scratch).as_posix() for path in members]
            for name, path in zip(names, members, strict=True):
                self._check_file(name, path.read_bytes(), existing | set(names) - {name})
            for name, path in zip(names, members, strict=True):
                self.storage.write(f"jobs/{job_id}/files/{name}", path.read_bytes())
        self._note_created(names, job_id)
        return self.list_files(job_id)

    def _check_file(self, relative: str, content: bytes, others: set[str]) -> None:
        if len(content) > self.limits.upload_max_bytes:
            raise PayloadTooLarge(f"The file {relative!r} is larger than {self.limits.upload_max_bytes} bytes.")
        parents = {"/".join(relative.split("/")[:i]) for i in range(1, relative.count("/") + 1)}
        clash = sorted(parents & others) or sorted(f for f in others if f.startswith(relative + "/"))
        if clash:
            raise BadRequest(f"The file {relative!r} clashes with {clash[0]!r} (a name cannot be a file and a folder).")
        if relative == "metadata.yaml":
            parse_metadata(content)

    def list_files(self, job_id: str) -> list[str]:
        prefix = f"jobs/{self._id(job_id)}/files/"
        return [key[len(prefix) :] for key in self.storage.list(prefix)]

    def read_file(self, job_id: str, name: str) -> bytes:
        try:
            return self.storage.read(f"jobs/{self._id(job_id)}/files/{safe_name(name).as_posix()}")
        except StorageKeyError as exc:
            raise NotFound(f"Job {job_id} has no file {name!r}.") from exc

    @staticmethod
    def _id(value: str) -> str:
        if not value or not all(c in "0123456789abcdef" for c in value) or len(value) != 24:
            raise NotFound(f"{value[:40]!r} is not a known id.")
        return value

    # --- runs -------------------------------------------------------------------------------
    def start_run(
        self,
        job_id: str,
        values: dict[str, Any] | None = None,
        deployment_id: str | None = None,
        policy: dict[str, Any] | None = None,
        on_line: Callable[[str], None] | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        """Run the job now and wait for it; the run record (with its status) is returned."""
        job = self.get_job(job_id)
        run_id = run_id or new_object_id()
        started = utcnow()
        record: dict[str, Any] = {
            "id": run_id,
            "jobId": job_id,
            "status": "running",
            "created": started.isoformat(),
            "deploymentId": deployment_id,
            "policyId": policy["id"] if policy else None,
            "tags": job.get("tags", {}),
            "trainingParameters": job.get("trainingParameters", {}),
        }
        with contextlib.suppress(ApiError):  # a queued run keeps its description
            queued = self.get_run(job_id, run_id)
            record["description"] = queued.get("description", "")
            if queued.get("status") == "canceled":  # canceled in the queue (in AWS: before this invocation)
                return queued
        if run_id in self._canceled:  # canceled while it waited in the queue
            self._canceled.discard(run_id)
            return self._finish(job_id, record, "canceled", None, "run canceled before it started\n", started)
        self._save_run(job_id, record)
        log_key = f"jobs/{job_id}/runs/{run_id}/log.txt"
        with tempfile.TemporaryDirectory(prefix=f"{RUN_FOLDER_PREFIX}{run_id}-") as scratch:
            folder, output = Path(scratch) / "job", Path(scratch) / "output"
            for name in (item["filePath"] for item in job["items"]):
                target = folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(self.read_file(job_id, name))
            try:
                loaded = load_job(folder, job.get("entryPoint"))
                layers = [job.get("runtimeParameterValues") or {}, values or {}]
                check_by_reference(layers[1])
                if deployment_id and loaded.metadata.parameter("DEPLOYMENT"):
                    layers.append({"DEPLOYMENT": deployment_id})
                parameters = resolve(loaded.metadata, *layers, credentials=self.credentials)
                bundle = catalogue.resource_bundle(job.get("resourceBundleId"))
                limits = dataclasses.replace(
                    self.limits, memory_bytes=bundle.memory_bytes, cpu_count=max(1, int(bundle.cpu_count))
                )
                installed = ""
                if (folder / REQUIREMENTS).is_file() and self.executor is not None:
                    installed = "requirements.txt: in AWS the runner image holds the packages (none installed)\n"
                elif (folder / REQUIREMENTS).is_file():
                    installed = install_requirements(folder, str(job.get("networkAccess", "public")))
            except ApiError as exc:
                return self._finish(job_id, record, "failed", None, f"run refused: {exc.message}\n", started)
            env = {**self.extra_environment, **environment(parameters)}
            if self.endpoint:
                env["DATAROBOT_ENDPOINT"] = self.endpoint
            masked = secrets(parameters)
            token_name = None
            if deployment_id:
                env["DEPLOYMENT_ID"] = deployment_id
                try:
                    token_name, token = issue_run_token(
                        self.storage, deployment_id, run_id, float(job.get("timeoutSeconds", 3600))
                    )
                except KeyError:
                    return self._finish(
                        job_id, record, "failed", None, f"run refused: deployment {deployment_id} not found\n", started
                    )
                env["DATAROBOT_API_TOKEN"] = token
                masked.append(token)
            try:
                result = (self.executor or run_job)(
                    folder,
                    env,
                    entry=loaded.entry,
                    timeout_seconds=float(job.get("timeoutSeconds", 3600)),
                    network=str(job.get("networkAccess", "public")),
                    secrets=masked,
                    on_line=on_line,
                    output_dir=output,
                    platform_isolated=self.platform_isolated,
                    limits=limits,
                    on_log=lambda text: self.storage.write(log_key, text),
                    run_name=run_id,
                    on_start=lambda process: self._started(run_id, process),
                )
            except ApiError as exc:
                return self._finish(job_id, record, "failed", None, f"run refused: {exc.message}\n", started)
            finally:
                self._processes.pop(run_id, None)
                if token_name is not None:
                    revoke_run_token(self.storage, token_name)
            record["exitCode"] = result.exit_code
            log = installed + result.log
            if run_id in self._canceled:
                self._canceled.discard(run_id)
                return self._finish(job_id, record, "canceled", result.exit_code, log + "run canceled\n", started)
            log += self._store_artifacts(job_id, record, output)
            if result.status == "succeeded":
                log += self._collect_outputs(record, output, deployment_id if policy else None, policy)
            return self._finish(job_id, record, result.status, result.exit_code, log, started)

    def _store_artifacts(self, job_id: str, record: dict[str, Any], output: Path) -> str:
        """Files the job leaves in $DRC_OUTPUT_DIR/artifacts/ are kept with the run."""
        folder = output / "artifacts"
        if not folder.is_dir():
            return ""
        names = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.relative_to(folder).as_posix()
            self.storage.write(f"jobs/{job_id}/runs/{record['id']}/artifacts/{name}", path.read_bytes())
            names.append(name)
        record["artifacts"] = names
        return f"kept {len(names)} artifact(s)\n"

    def _collect_outputs(
        self, record: dict[str, Any], output: Path, deployment_id: str | None, policy: dict[str, Any] | None
    ) -> str:
        notes = ""
        metrics = output / "metrics.json"
        if metrics.is_file():
            try:
                record["metrics"] = json.loads(metrics.read_text())
            except json.JSONDecodeError:
                notes += "metrics.json is not valid JSON; ignored\n"
        if (output / "model.onnx").is_file():
            try:
                candidate = publish_candidate(self.storage, output)
            except ApiError as exc:
                record["publishError"] = exc.message
                return notes + f"candidate not published: {exc.message}\n"
            record["candidateModelId"] = candidate.model_id
            notes += f"published model version {candidate.model_id}\n"
            if deployment_id and policy is not None:
                decision = promote(self.storage, deployment_id, candidate, float(policy.get("tolerance", 0.0)))
                record["decision"] = decision.as_dict()
                notes += f"{decision.reason}\n"
        return notes

    def _finish(
        self, job_id: str, record: dict[str, Any], status: str, exit_code: int | None, log: str, started: datetime
    ) -> dict[str, Any]:
        finished = utcnow()
        with contextlib.suppress(ApiError):
            if self.get_run(job_id, record["id"]).get("status") == "canceled":  # canceled from elsewhere (AWS)
                status = "canceled"
        record.update(
            status=status,
            exitCode=exit_code,
            finished=finished.isoformat(),
            durationSeconds=round((finished - started).total_seconds(), 3),
        )
        self.storage.write(f"jobs/{job_id}/runs/{record['id']}/log.txt", log.encode())
        self._save_run(job_id, record)
        return record

    def _save_run(self, job_id: str, record: dict[str, Any]) -> None:
        self.storage.write(f"jobs/{job_id}/runs/{record['id']}/run.yaml", _dump(record))

    def recover_interrupted_runs(self, stale_after_seconds: float | None = None) -> list[str]:
        """Runs a crash left ``running`` (or ``queued``) are marked failed, their run tokens
        revoked and their scratch folders removed.

        Without ``stale_after_seconds`` every such run is taken: only for a process that is the
        sole job runner on its storage, at its start (the local service). With it, only runs
        older than their own time limit plus that margin (safe where other containers run jobs
        on the same bucket: AWS calls it on each scheduled tick)."""
        recovered = []
        now = utcnow()
        for key in self.storage.list("jobs/"):
            if not key.endswith("/run.yaml"):
                continue
            try:
                record = dict(load_yaml(self.storage.read(key)))
            except (StorageKeyError, ValueError):
                continue
            if record.get("status") not in ("running", "queued"):
                continue
            if stale_after_seconds is not None and not self._stale(record, now, stale_after_seconds):
                continue
            run_id = str(record.get("id"))
            if record.get("deploymentId"):
                with contextlib.suppress(StorageKeyError, ValueError):
                    revoke_run_token(self.storage, f"run-{run_id}")
            for folder in Path(tempfile.gettempdir()).glob(f"{RUN_FOLDER_PREFIX}{run_id}-*"):
                shutil.rmtree(folder, ignore_errors=True)
            note = "run failed: the service stopped while it was running (recovered later)\n"
            log_key = key[: -len("run.yaml")] + "log.txt"
            try:
                previous = self.storage.read(log_key)[-self.limits.log_max_bytes // 2 :]
            except StorageKeyError:
                previous = b""
            self.storage.write(log_key, previous + note.encode())
            record.update(status="failed", finished=utcnow().isoformat(), exitCode=None)
            self.storage.write(key, _dump(record))
            recovered.append(run_id)
        return recovered

    def _stale(self, record: dict[str, Any], now: datetime, margin: float) -> bool:
        try:
            created = datetime.fromisoformat(str(record.get("created")))
            limit = float(self.get_job(str(record.get("jobId"))).get("timeoutSeconds", 3600))
        except (ValueError, ApiError):
            return True  # a run record nothing can finish any more
        return (now - created).total_seconds() > limit + margin

    def queue_run(self, job_id: str, deployment_id: str | None = None) -> dict[str, Any]:
        """A run record in state ``queued``, for callers that start the run in the background."""
        self.get_job(job_id)
        record: dict[str, Any] = {"id": new_object_id(), "jobId": job_id, "status": "queued"}
        record.update(created=utcnow().isoformat(), deploymentId=deployment_id)
        self._save_run(job_id, record)
        return record

    def get_run(self, job_id: str, run_id: str) -> dict[str, Any]:
        try:
            return dict(load_yaml(self.storage.read(f"jobs/{self._id(job_id)}/runs/{self._id(run_id)}/run.yaml")))
        except StorageKeyError as exc:
            raise NotFound(f"Run {run_id} of job {job_id} was not found.") from exc

    def list_runs(self, job_id: str) -> list[dict[str, Any]]:
        self.get_job(job_id)
        keys = [k for k in self.storage.list(f"jobs/{job_id}/runs/") if k.endswith("/run.yaml")]
        return [dict(load_yaml(self.storage.read(k))) for k in keys]

    def run_log_stream(self, job_id: str, run_id: str) -> Iterator[bytes]:
        """The log in pieces, as storage holds it (never read whole to serve it)."""
        self.get_run(job_id, run_id)
        try:
            return self.storage.stream(f"jobs/{job_id}/runs/{run_id}/log.txt")
        except StorageKeyError:
            return iter([b""])

    def run_log(self, job_id: str, run_id: str) -> str:
        self.get_run(job_id, run_id)
        try:
            return self.storage.read(f"jobs/{job_id}/runs/{run_id}/log.txt").decode("utf-8", "replace")
        except StorageKeyError:
            return ""

    def cancel_run(self, job_id: str, run_id: str) -> dict[str, Any]:
        """Cancel a queued or running run: its whole process tree is ended (the sandbox's pid
        namespace, or the job's session), and the run ends ``canceled``."""
        record = self.get_run(job_id, run_id)
        if record.get("status") in TERMINAL:
            return record
        self._canceled.add(run_id)
        process = self._processes.get(run_id)
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        elif record.get("status") == "queued" or self.launcher is not None:
            # not started here: a queued run never starts; in AWS a running invocation cannot be
            # stopped from outside, so the run is marked canceled and its result is not kept
            self._canceled.discard(run_id)
            record.update(status="canceled", finished=utcnow().isoformat())
            self._save_run(job_id, record)
        return self.get_run(job_id, run_id)

    def _started(self, run_id: str, process: Any) -> None:
        self._processes[run_id] = process
        if run_id in self._canceled:  # canceled between its record and its process
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

    def update_run(self, job_id: str, run_id: str, description: Any) -> dict[str, Any]:
        if not isinstance(description, str) or len(description) > 10000:
            raise BadRequest("description must be a string of at most 10000 characters.")
        record = self.get_run(job_id, run_id)
        record["description"] = description
        self._save_run(job_id, record)
        return record

    def delete_run_log(self, job_id: str, run_id: str) -> None:
        self.get_run(job_id, run_id)
        self.storage.delete(f"jobs/{job_id}/runs/{run_id}/log.txt")

    def has_log(self, job_id: str, run_id: str) -> bool:
        return self.storage.version(f"jobs/{self._id(job_id)}/runs/{self._id(run_id)}/log.txt") is not None

    # --- retraining policies ----------------------------------------------------------------
    def attach_policy(
        self,
        deployment_id: str,
        job_id: str,
        schedule: str,
        tolerance: float = 0.0,
        enabled: bool = True,
        trigger: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        parse_schedule(schedule)
        trigger = validate_trigger(trigger)
        self.get_job(job_id)
        if deployment_id not in DeploymentRegistry(self.storage, 0).snapshot().deployments:
            raise NotFound(f"Deployment {deployment_id} was not found.")
        if not isinstance(tolerance, int | float) or tolerance < 0:
            raise BadRequest("tolerance must be a number of 0 or more.")
        policy = {
            "id": new_object_id(),
            "deploymentId": deployment_id,
            "jobId": job_id,
            "schedule": schedule,
            "tolerance": float(tolerance),
            "enabled": bool(enabled),
            "created": utcnow().isoformat(),
            "lastRunAt": None,
            "lastRunId": None,
        }
        if trigger is not None:
            policy["trigger"] = trigger
        self.storage.write(f"policies/{policy['id']}.yaml", _dump(policy))
        if self.schedules is not None:
            self.schedules.upsert(policy)
        return policy

    def list_policies(self, deployment_id: str | None = None) -> list[dict[str, Any]]:
        keys = [k for k in self.storage.list("policies/") if k.endswith(".yaml")]
        policies = [dict(load_yaml(self.storage.read(k))) for k in keys]
        return [p for p in policies if deployment_id is None or p["deploymentId"] == deployment_id]

    def update_policy(self, policy_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a policy's schedule, tolerance, enabled flag or trigger (its schedule follows)."""
        policy = self.get_policy(policy_id)
        allowed = {"schedule", "tolerance", "enabled", "trigger", "parameterOverrides", "scheduleSpec"}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise BadRequest(f"Unknown policy field {unknown[0][:60]!r}; editable: {', '.join(sorted(allowed))}.")
        if "schedule" in changes:
            if not isinstance(changes["schedule"], str):
                raise BadRequest("schedule must be rate(...) or cron(...).")
            parse_schedule(changes["schedule"])
        if "tolerance" in changes:
            tolerance = changes["tolerance"]
            if not isinstance(tolerance, int | float) or isinstance(tolerance, bool) or tolerance < 0:
                raise BadRequest("tolerance must be a number of 0 or more.")
            changes["tolerance"] = float(tolerance)
        if "enabled" in changes and not isinstance(changes["enabled"], bool):
            raise BadRequest("enabled must be true or false.")
        if "trigger" in changes:
            changes["trigger"] = validate_trigger(changes["trigger"])
        if "parameterOverrides" in changes:
            check_by_reference(changes["parameterOverrides"])
        policy.update(changes)
        policy["updated"] = utcnow().isoformat()
        self.storage.write(f"policies/{policy_id}.yaml", _dump(policy))
        if self.schedules is not None:
            self.schedules.upsert(policy)
        return policy

    def delete_policy(self, policy_id: str) -> None:
        self.get_policy(policy_id)
        if self.schedules is not None:
            self.schedules.delete(policy_id)
        self.storage.delete(f"policies/{policy_id}.yaml")

    # --- job schedules (the client's /customJobs/{id}/schedules/): policies without a deployment --
    def create_schedule(
        self, job_id: str, cron: str, spec: dict[str, Any], overrides: dict[str, Any]
    ) -> dict[str, Any]:
        parse_schedule(cron)
        self.get_job(job_id)
        check_by_reference(overrides)
        now = utcnow().isoformat()
        policy = {
            "id": new_object_id(),
            "kind": "jobSchedule",
            "deploymentId": None,
            "jobId": job_id,
            "schedule": cron,
            "scheduleSpec": spec,
            "parameterOverrides": overrides,
            "tolerance": 0.0,
            "enabled": True,
            "created": now,
            "updated": now,
            "lastRunAt": None,
            "lastRunId": None,
        }
        self.storage.write(f"policies/{policy['id']}.yaml", _dump(policy))
        if self.schedules is not None:
            self.schedules.upsert(policy)
        return policy

    def list_schedules(self, job_id: str) -> list[dict[str, Any]]:
        self.get_job(job_id)
        return [p for p in self.list_policies() if p.get("kind") == "jobSchedule" and p["jobId"] == job_id]

    def get_schedule(self, job_id: str, schedule_id: str) -> dict[str, Any]:
        policy = self.get_policy(schedule_id)
        if policy.get("kind") != "jobSchedule" or policy.get("jobId") != job_id:
            raise NotFound(f"Schedule {schedule_id} of job {job_id} was not found.")
        return policy

    def get_policy(self, policy_id: str) -> dict[str, Any]:
        try:
            return dict(load_yaml(self.storage.read(f"policies/{self._id(policy_id)}.yaml")))
        except StorageKeyError as exc:
            raise NotFound(f"Retraining policy {policy_id} was not found.") from exc

    def run_policy(
        self, policy_id: str, on_line: Callable[[str], None] | None = None, at: datetime | None = None
    ) -> dict[str, Any]:
        """Run a policy's job for its deployment; ``at`` is the schedule time it ran for."""
        policy = self.get_policy(policy_id)
        values = policy.get("parameterOverrides") or {}
        run = self.start_run(
            policy["jobId"], values, deployment_id=policy["deploymentId"], policy=policy, on_line=on_line
        )
        policy.update(lastRunAt=(at.isoformat() if at else run["created"]), lastRunId=run["id"])
        self.storage.write(f"policies/{policy_id}.yaml", _dump(policy))
        return run

    def due_policies(self, now: datetime | None = None) -> list[dict[str, Any]]:
        now = now or utcnow()
        due = []
        for policy in self.list_policies():
            if not policy.get("enabled", True):
                continue
            last = datetime.fromisoformat(policy["lastRunAt"]) if policy.get("lastRunAt") else None
            scheduled = parse_schedule(policy["schedule"]).due(last, datetime.fromisoformat(policy["created"]), now)
            if scheduled or trigger_reason(self.storage, policy, now):  # monitoring: drift or accuracy decline
                due.append(policy)
        return due

    def run_due_policies(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Run every enabled policy whose schedule has fired since its last run (one at a time)."""
        now = now or utcnow()
        with self._policy_lock:
            return [self.run_policy(policy["id"], at=now) for policy in self.due_policies(now)]
