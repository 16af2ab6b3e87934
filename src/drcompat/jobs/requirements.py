"""A job's ``requirements.txt`` (the Python 3.X environment's way to add packages), installed
locally into the run's private copy before the sandboxed run starts.

pip runs outside the sandbox, with network, so the file is hostile input: only plain
requirement lines are accepted (a name, extras, version specifiers, a marker; no options, URLs or
paths that could read this machine's files or pick another index), and only wheels are taken
(``--only-binary :all:``), so installing runs no package code. The job then finds the packages
on ``PYTHONPATH``, ahead of the runner's own. A job with ``networkAccess: none`` cannot download,
so its run is refused with that reason. In AWS the runner image holds the packages (build them
into ``functions/jobrunner/``), as Lambda has a read-only file system and maybe no network.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from drcompat.errors import BadRequest
from drcompat.jobs.runner import DEPENDENCIES

REQUIREMENT = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,\s-]*\])?\s*"
    r"((===|==|~=|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*(,\s*(===|==|~=|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*)*)?"
    r"(;[^@/\\]*)?$"
)
MAX_LINES = 200
INSTALL_SECONDS = 600


def requirement_lines(text: str) -> list[str]:
    """The plain requirements of the file; anything else is refused, naming the line."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if not REQUIREMENT.match(line) or "://" in line:
            raise BadRequest(
                f"requirements.txt line {number}: only plain requirements (name, extras, versions, a marker) "
                "are accepted; no options, URLs or paths."
            )
        lines.append(line)
    if len(lines) > MAX_LINES:
        raise BadRequest(f"requirements.txt lists more than {MAX_LINES} packages.")
    return lines


def install_requirements(folder: Path, network: str) -> str:
    """Install the job's requirements into ``folder/.requirements``; the lines for the run's log."""
    lines = requirement_lines((folder / "requirements.txt").read_text("utf-8", "replace"))
    if not lines:
        return "requirements.txt lists no packages\n"
    if network == "none":
        raise BadRequest(
            "requirements.txt needs network access to install its packages and this job has networkAccess none; "
            "set networkAccess to public, or use packages the runner environment already has."
        )
    target = folder / DEPENDENCIES
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    command += ["--timeout", "30", "--retries", "1"]
    command += ["--only-binary", ":all:", "--target", str(target), "--", *lines]
    try:
        done = subprocess.run(  # noqa: S603 - checked requirement lines, wheels only
            command, capture_output=True, text=True, timeout=INSTALL_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BadRequest(f"Installing requirements.txt took longer than {INSTALL_SECONDS} s.") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BadRequest("Installing requirements.txt failed: " + " | ".join(tail)[:500])
    return f"installed requirements.txt ({len(lines)} package(s))\n"
