"""Run a job: a fresh working copy, its entry point under POSIX ``sh``, a time limit, a masked log.

Network access ``none`` is enforced with a separate network namespace (``unshare --net``); where
the OS does not allow one, the run is refused with a clear message rather than run with network.
In AWS the job runner function's own network settings decide.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from drcompat.errors import BadRequest

MASK = "*****"
BASE_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV")


class JobRunError(BadRequest):
    """The run cannot start (bad entry point, network isolation unavailable, ...)."""


@dataclass
class RunResult:
    status: str  # "succeeded", "failed" or "timedOut"
    exit_code: int | None
    duration_seconds: float
    log: str
    workdir: Path | None = None


@lru_cache(maxsize=1)
def isolation_prefix() -> tuple[str, ...] | None:
    """The command that runs a process without network here, or None where the OS allows none."""
    for command in (("unshare", "--net"), ("unshare", "--net", "--map-root-user")):
        try:
            probe = subprocess.run([*command, "true"], capture_output=True, timeout=10, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return command
    return None


def _isolation_prefix() -> list[str]:
    prefix = isolation_prefix()
    if prefix is None:
        raise JobRunError(
            "Network access 'none' cannot be enforced on this machine (no network namespaces); "
            "the run was refused. Allow unprivileged user namespaces or set networkAccess to public."
        )
    return list(prefix)


class Masker:
    """Replaces every secret in a line with *****; longest first so overlaps mask fully."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


def entry_point(folder: Path, name: str | None = None) -> str:
    """``run.sh`` when present, else the one ``.sh`` the job names (or the only one there is)."""
    if name:
        if not name.endswith(".sh") or "/" in name or not (folder / name).is_file():
            raise JobRunError(f"Entry point {name!r} must be a .sh file at the top of the job.")
        return name
    if (folder / "run.sh").is_file():
        return "run.sh"
    scripts = sorted(p.name for p in folder.glob("*.sh"))
    if len(scripts) == 1:
        return scripts[0]
    raise JobRunError("The job has no run.sh; name its entry point (.sh file) in the job settings.")


def run_job(
    folder: Path,
    environment: dict[str, str],
    *,
    entry: str | None = None,
    timeout_seconds: float = 3600,
    network: str = "public",
    secrets: list[str] | None = None,
    on_line: Callable[[str], None] | None = None,
    keep_workdir: bool = False,
    output_dir: Path | None = None,
    platform_isolated: bool = False,
) -> RunResult:
    """Run the job folder in a fresh working copy and wait for it (or its time limit).

    ``platform_isolated`` says the platform already has no network (a Lambda in a VPC without a
    NAT gateway), so ``none`` needs no namespace of its own.
    """
    folder = Path(folder)
    script = entry_point(folder, entry)
    if network not in ("public", "none"):
        raise JobRunError(f"networkAccess must be public or none, not {network!r}.")
    prefix = _isolation_prefix() if network == "none" and not platform_isolated else []
    workdir = Path(tempfile.mkdtemp(prefix="drcompat-run-"))
    shutil.copytree(folder, workdir, dirs_exist_ok=True)
    env = {k: os.environ[k] for k in BASE_ENVIRONMENT if k in os.environ}
    # Jobs run in the runner's own Python environment (the job runner image's, or the local venv).
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    env.update({"HOME": str(workdir), "TMPDIR": str(workdir), "DRC_OUTPUT_DIR": str(workdir / "output"), **environment})
    mask = Masker(secrets or [])
    lines: list[str] = []
    started = time.monotonic()
    process = subprocess.Popen(  # noqa: S603 - the job's own entry point, by design
        [*prefix, "sh", script],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
        errors="replace",
    )

    def pump() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = mask(raw.rstrip("\n"))
            lines.append(line)
            if on_line is not None:
                on_line(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        process.wait(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    reader.join(5)
    duration = time.monotonic() - started
    if timed_out:
        note = f"run stopped: time limit of {timeout_seconds:g} s reached"
        lines.append(note)
        if on_line is not None:
            on_line(note)
    status = "timedOut" if timed_out else ("succeeded" if process.returncode == 0 else "failed")
    result = RunResult(
        status=status,
        exit_code=None if timed_out else process.returncode,
        duration_seconds=duration,
        log="\n".join(lines) + ("\n" if lines else ""),
        workdir=workdir if keep_workdir else None,
    )
    produced = workdir / "output"
    if output_dir is not None and produced.is_dir():  # what the job hands over (a candidate model, say)
        shutil.copytree(produced, output_dir, dirs_exist_ok=True)
    if not keep_workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return result
