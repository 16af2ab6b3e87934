"""Run a job: a private copy of its files, its entry point under POSIX ``sh``, a time limit,
and a masked, capped log.

By default every run is sandboxed (``drcompat.jobs.sandbox``: bubblewrap namespaces, an
unprivileged uid, a disk quota, a process limit); where no sandbox can be made the run is refused.
``sandbox="off"`` is the documented opt-out for trusted jobs (and AWS Lambda, which cannot make
namespaces): the job then runs as the service's user in its own session, from an empty
environment, and ``networkAccess: none`` uses a network namespace (``unshare --net``) when the OS
allows one.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import re
import resource
import select
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
from drcompat.jobs import sandbox
from drcompat.jobs.limits import JobLimits

MASK = "*****"
BASE_ENVIRONMENT = ("LANG", "LC_ALL", "TZ")
LINE_BYTES = 64 * 1024  # a longer line is split, so no line is ever held whole
FLUSH_SECONDS = 2.0
RUN_FOLDER_PREFIX = "drcompat-run-"
DEPENDENCIES = ".requirements"  # where a job's requirements.txt is installed (drcompat.jobs.requirements)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
MIN_WORD = 6
SECRET_WORD_BREAKS = re.compile(r"(?:\\[nrtbf\"\\/])+|[\s\"',{}:\[\]]+")


class JobRunError(BadRequest):
    """The run cannot start (bad entry point, no sandbox, network isolation unavailable, ...)."""


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


def _bwrap() -> str:
    found = sandbox.bwrap_path()
    if found is None:
        raise JobRunError(
            "Jobs run in a sandbox and none can be made on this machine (bubblewrap is missing or "
            "namespaces are not allowed); the run was refused. Install bubblewrap (apt-get install "
            "bubblewrap), or for trusted jobs only set DRC_JOB_SANDBOX=off (see the README)."
        )
    return found


def _hide_service_process() -> None:
    """Make this process non-dumpable, so a same-uid job cannot read its /proc/<pid>/environ."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4


class Masker:
    """Replaces every secret in a line with *****; longest first so overlaps mask fully.

    A multi-line secret (a service-account key) is masked line by line, as logs are lines, and
    since a job may print it re-escaped (``echo`` turns ``\\n`` into a new line, JSON escapes
    quotes) every word of it of MIN_WORD characters or more is masked too."""

    def __init__(self, secrets: list[str]) -> None:
        pieces: set[str] = set()
        for secret in secrets:
            for form in (secret, json.dumps(secret)[1:-1]):
                pieces.add(form)
                pieces.update(line.strip() for line in form.splitlines())
                pieces.update(word for word in SECRET_WORD_BREAKS.split(form) if len(word) >= MIN_WORD)
        self.secrets = sorted({s for s in pieces if len(s) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


class CappedLog:
    """The run's log: masked lines kept up to ``limit`` bytes, then one marker; the rest is
    counted and dropped. ``flush`` (the log so far, at most every FLUSH_SECONDS) streams it."""

    def __init__(
        self,
        limit: int,
        on_line: Callable[[str], None] | None,
        flush: Callable[[bytes], None] | None,
    ) -> None:
        self.limit = limit
        self.buffer = bytearray()
        self.dropped = 0
        self.on_line = on_line
        self.flush = flush
        self.flushed_at = float("-inf")  # the first line reaches storage at once
        self.flushed_size = 0
        self.lock = threading.Lock()

    def add(self, line: str) -> None:
        data = (line + "\n").encode("utf-8", "replace")
        with self.lock:
            if self.dropped or len(self.buffer) + len(data) > self.limit:
                if not self.dropped:
                    marker = f"[log cut here: the run wrote more than {self.limit} bytes; the rest is dropped]"
                    self.buffer += (marker + "\n").encode()
                    if self.on_line is not None:
                        self.on_line(marker)
                self.dropped += len(data)
                return
            self.buffer += data
        if self.on_line is not None:
            self.on_line(line)
        self.tick()

    def tick(self) -> None:
        """Send the log so far to ``flush`` when it grew and the last send is FLUSH_SECONDS old."""
        if self.flush is None or time.monotonic() - self.flushed_at < FLUSH_SECONDS:
            return
        with self.lock:
            if len(self.buffer) == self.flushed_size:
                return
            self.flushed_at, self.flushed_size = time.monotonic(), len(self.buffer)
            data = bytes(self.buffer)
        self.flush(data)

    def text(self) -> str:
        with self.lock:
            return self.buffer.decode("utf-8", "replace")


def check_entry_name(name: object) -> None:
    """An entry point is the name of a .sh file at the top of the job (checked on create/PATCH)."""
    if name is None:
        return
    if (
        not isinstance(name, str)
        or not name.endswith(".sh")
        or len(name) > 255
        or any(c in name for c in "/\\\0")
        or name.startswith(".")
    ):
        raise JobRunError(f"Entry point {str(name)[:80]!r} must be the name of a .sh file at the top of the job.")


def entry_point(folder: Path, name: str | None = None) -> str:
    """``run.sh`` when present, else the one ``.sh`` the job names (or the only one there is)."""
    if name:
        check_entry_name(name)
        if not (folder / name).is_file():
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
    output_dir: Path | None = None,
    platform_isolated: bool = False,
    limits: JobLimits | None = None,
    on_log: Callable[[bytes], None] | None = None,
    run_name: str = "",
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> RunResult:
    """Run the job folder in a private copy and wait for it (or its time limit).

    ``platform_isolated`` says the platform already has no network (a Lambda in a VPC without a
    NAT gateway), so ``none`` needs no namespace of its own. ``on_log`` receives the (capped) log
    so far every few seconds, so a long run's log reaches storage while it runs.
    """
    folder = Path(folder)
    limits = limits or JobLimits()
    script = entry_point(folder, entry)
    if network not in ("public", "none"):
        raise JobRunError(f"networkAccess must be public or none, not {network!r}.")
    log = CappedLog(limits.log_max_bytes, on_line, on_log)
    mask = Masker(secrets or [])
    env = {k: os.environ[k] for k in BASE_ENVIRONMENT if k in os.environ}
    if limits.cpu_count:
        for name in THREAD_VARIABLES:
            env[name] = str(limits.cpu_count)
    started = time.monotonic()
    if limits.sandbox == "off":
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
        network_prefix = _isolation_prefix() if network == "none" and not platform_isolated else []
        status, code = _run_unsandboxed(
            folder,
            script,
            {**env, **environment},
            network_prefix,
            timeout_seconds,
            log,
            mask,
            output_dir,
            run_name,
            on_start,
            limits.memory_bytes,
        )
    else:
        bwrap = _bwrap()
        env.update(PATH=sandbox.job_path(), HOME=sandbox.HOME, TMPDIR=sandbox.TMP, DRC_OUTPUT_DIR=sandbox.OUTPUT)
        if (folder / DEPENDENCIES).is_dir():  # requirements.txt, installed before the run
            env["PYTHONPATH"] = f"{sandbox.HOME}/{DEPENDENCIES}"
        env.update(environment)
        status, code = _run_sandboxed(
            bwrap, folder, script, env, network, timeout_seconds, limits, log, mask, output_dir, on_start
        )
    if status == "timedOut":
        log.add(f"run stopped: time limit of {timeout_seconds:g} s reached")
    return RunResult(status=status, exit_code=code, duration_seconds=time.monotonic() - started, log=log.text())


def _pump(stream: object, log: CappedLog, mask: Masker) -> threading.Thread:
    """Read the job's output line by line (long lines in pieces) into the capped log."""

    def pump() -> None:
        reader = stream  # a binary pipe, closed here at its end (its only reader)
        try:
            while True:
                raw = reader.readline(LINE_BYTES)  # type: ignore[attr-defined]
                if not raw:
                    break
                log.add(mask(raw.decode("utf-8", "replace").rstrip("\n")))
        finally:
            reader.close()  # type: ignore[attr-defined]

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def _read_ready(fd: int, deadline: float) -> bytes | None:
    """What the pipe says before ``deadline`` (b"" at its end), or None when time runs out."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    poller = select.poll()  # not select(): a busy server's descriptors pass FD_SETSIZE
    poller.register(fd, select.POLLIN | select.POLLHUP)
    if not poller.poll(remaining * 1000):
        return None
    return os.read(fd, 4096)


def _read_until(fd: int, end: bytes, deadline: float, log: CappedLog | None = None) -> bytes | None:
    """Bytes from the pipe up to ``end`` or its close; None when the deadline passes first. The
    log is sent on while waiting (a quiet job's last lines reach storage too)."""
    said = b""
    while end not in said:
        if log is not None:
            log.tick()
        chunk = _read_ready(fd, min(deadline, time.monotonic() + FLUSH_SECONDS))
        if chunk is None and time.monotonic() < deadline:
            continue
        if chunk is None:
            return None
        if not chunk:
            break
        said += chunk
    return said


def _run_sandboxed(
    bwrap: str,
    folder: Path,
    script: str,
    env: dict[str, str],
    network: str,
    timeout_seconds: float,
    limits: JobLimits,
    log: CappedLog,
    mask: Masker,
    output_dir: Path | None,
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> tuple[str, int | None]:
    status_r, status_w = os.pipe()
    hold_r, hold_w = os.pipe()
    info_r, info_w = os.pipe()
    command = sandbox.sandbox_command(
        bwrap,
        folder,
        script,
        network,
        limits.disk_quota_bytes,
        limits.max_processes,
        status_w,
        hold_r,
        info_w,
        limits.memory_bytes,
    )
    deadline = time.monotonic() + timeout_seconds
    try:
        process = subprocess.Popen(  # noqa: S603 - the job's own entry point, in its sandbox
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=(status_w, hold_r, info_w),
        )
    finally:
        for fd in (status_w, hold_r, info_w):
            os.close(fd)
    if on_start is not None:
        on_start(process)
    reader = _pump(process.stdout, log, mask)
    status, code = "failed", None
    try:
        info, said = _read_until(info_r, b"}", deadline), _read_until(status_r, b"\n", deadline, log)
        if said is None or info is None:
            status = "timedOut"
        elif said.strip().isdigit():
            code = int(said.strip())
            status = "succeeded" if code == 0 else "failed"
            if output_dir is not None:
                try:
                    child = int(json.loads((info or b"").decode())["child-pid"])
                    sandbox.collect_output(child, output_dir, limits.disk_quota_bytes)
                except (OSError, ValueError, KeyError) as exc:
                    log.add(f"output not collected: {exc}")
    finally:
        os.close(hold_w)  # lets the wrapper end, and with it the sandbox
        try:
            process.wait(timeout=5 if status != "timedOut" else 0)
        except subprocess.TimeoutExpired:
            _kill_group(process)
        os.close(status_r)
        os.close(info_r)
        reader.join(5)
    return status, code


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _run_unsandboxed(
    folder: Path,
    script: str,
    environment: dict[str, str],
    network_prefix: list[str],
    timeout_seconds: float,
    log: CappedLog,
    mask: Masker,
    output_dir: Path | None,
    run_name: str,
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
    memory_bytes: int | None = None,
) -> tuple[str, int | None]:
    """The opt-out for trusted jobs: a private folder and session, no sandbox."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{RUN_FOLDER_PREFIX}{run_name}-"))
    try:
        shutil.copytree(folder, workdir, dirs_exist_ok=True)
        env = {**environment, "HOME": str(workdir), "TMPDIR": str(workdir), "DRC_OUTPUT_DIR": str(workdir / "output")}
        if (workdir / DEPENDENCIES).is_dir():
            env["PYTHONPATH"] = str(workdir / DEPENDENCIES)
        _hide_service_process()
        process = subprocess.Popen(  # noqa: S603 - the job's own entry point, by design
            [*network_prefix, "sh", script],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=functools.partial(_child_limits, memory_bytes),
        )
        if on_start is not None:
            on_start(process)
        reader = _pump(process.stdout, log, mask)
        status, code = "failed", None
        try:
            deadline = time.monotonic() + timeout_seconds
            while True:
                try:
                    code = process.wait(timeout=max(0.0, min(FLUSH_SECONDS, deadline - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() >= deadline:
                        raise
                    log.tick()
            status = "succeeded" if code == 0 else "failed"
        except subprocess.TimeoutExpired:
            status = "timedOut"
        _kill_group(process)  # stragglers of the session end with the run
        reader.join(5)
        produced = workdir / "output"
        if output_dir is not None and produced.is_dir() and status != "timedOut":
            shutil.copytree(produced, output_dir, symlinks=True, dirs_exist_ok=True)
        return status, code
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _child_limits(memory_bytes: int | None = None) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
