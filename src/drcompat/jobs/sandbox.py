"""The job sandbox: bubblewrap (``bwrap``) namespaces around one run.

A sandboxed job sees a new root: the system's ``/usr`` and the runner's Python read-only, a few
harmless ``/etc`` files, its own ``/proc`` (a new PID namespace: only its own processes), a private
``/dev``, and one size-limited tmpfs (``/sandbox``: its home with a copy of its files, ``/tmp``,
its output folder) that is its disk quota. Nothing else of the host is mounted: not the service's
files, the bucket, ``deployments.yaml``, the credential store, other runs or host unix sockets.
With ``networkAccess: none`` it also gets a network namespace of its own (loopback only).

When the host runs as root, the job itself runs as a fresh unprivileged uid with no capabilities
and ``no_new_privs`` (``setpriv``), and a process limit (``prlimit``). Otherwise bwrap makes a user
namespace and the job keeps the caller's uid inside it.

A trusted wrapper inside the sandbox starts the entry point, and when it exits ends every other
process of the run (``kill -9 -1`` in the PID namespace), reports the exit code on a pipe and waits
while the host copies ``$DRC_OUTPUT_DIR`` out through ``/proc/<pid>/root`` (never following the
job's symlinks). Killing bwrap ends the PID namespace's init, and with it every process of the
run, ``setsid`` ones included.
"""

# ruff: noqa: S108 - /tmp, /var/tmp and /dev/shm here are the sandbox's own, not the host's
from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

SANDBOX = "/sandbox"
HOME = f"{SANDBOX}/home"
TMP = f"{SANDBOX}/tmp"
OUTPUT = f"{HOME}/output"
JOB_SOURCE = "/job"
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64")
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "ssl",
    "ca-certificates",
    "resolv.conf",
    "hosts",
    "host.conf",
    "gai.conf",
    "nsswitch.conf",
    "localtime",
    "alternatives",
    "mime.types",
)
PATH = "/usr/local/bin:/usr/bin:/bin"
REFUSED_EXIT = 125


@lru_cache(maxsize=1)
def bwrap_path() -> str | None:
    """The bwrap binary when it can make a sandbox on this machine, else None."""
    found = shutil.which("bwrap")
    if found is None:
        return None
    command = [found, *_namespaces("none"), "--ro-bind", "/usr", "/usr", *_system_links(), "--proc", "/proc"]
    command += ["--perms", "0755", "--size", "1048576", "--tmpfs", SANDBOX]  # bwrap 0.7+ (--size)
    try:
        probe = subprocess.run(  # noqa: S603 - a fixed probe
            [*command, "--dev", "/dev", "/usr/bin/env", "true"], capture_output=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if probe.returncode == 0 else None


def _namespaces(network: str) -> list[str]:
    args = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() != 0:
        args.append("--unshare-user")
    if network == "none":
        args.append("--unshare-net")
    return [*args, "--die-with-parent", "--new-session", "--hostname", "drcompat-job"]


def _system_links() -> list[str]:
    args: list[str] = []
    for path in SYSTEM_LINKS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


def _python_roots() -> set[Path]:
    return {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent.parent}


def _runner_under_tmp() -> bool:
    """Whether the runner's Python lives under /tmp (a CI checkout there, say)."""
    return any(Path("/tmp") in root.parents for root in _python_roots())


def _python_mounts() -> list[str]:
    """The runner's Python (and its virtual environment), read-only at the same paths."""
    roots = _python_roots()
    args: list[str] = []
    made: set[Path] = set()
    for root in sorted(roots):
        if root == Path("/usr") or Path("/usr") in root.parents or not root.is_dir():
            continue
        for parent in reversed(root.parents):  # bwrap would make them 0700: the job could not pass
            if parent not in (Path("/"), Path("/tmp"), Path("/var"), Path("/var/tmp")) and parent not in made:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += ["--ro-bind", str(root), str(root)]
    return args


def job_path() -> str:
    """PATH inside the sandbox: the runner's Python first, so jobs use its packages."""
    return os.pathsep.join([str(Path(sys.executable).parent), PATH])


def sandbox_command(
    bwrap: str,
    job_source: Path,
    script: str,
    network: str,
    quota_bytes: int,
    max_processes: int,
    status_fd: int,
    hold_fd: int,
    info_fd: int,
    memory_bytes: int | None = None,
) -> list[str]:
    """The bwrap command line that runs ``script`` of ``job_source`` in a fresh sandbox."""
    args = [bwrap, *_namespaces(network), "--ro-bind", "/usr", "/usr", *_system_links()]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(quota_bytes), "--tmpfs", "/dev/shm"]
    args += ["--perms", "0755", "--size", str(quota_bytes), "--tmpfs", SANDBOX]
    if _runner_under_tmp():  # the runner's venv must keep its path: /tmp is then a tmpfs of its own
        args += ["--perms", "1777", "--size", str(quota_bytes), "--tmpfs", "/tmp"]
    else:
        args += ["--symlink", TMP, "/tmp"]
    args += ["--symlink", TMP, "/var/tmp", "--ro-bind", str(job_source), JOB_SOURCE]
    args += _python_mounts()
    args += ["--info-fd", str(info_fd), "--chdir", "/"]
    return [*args, "/bin/sh", "-c", _wrapper(max_processes, status_fd, hold_fd, memory_bytes), "drcompat-job", script]


def _wrapper(max_processes: int, status_fd: int, hold_fd: int, memory_bytes: int | None = None) -> str:
    """The trusted shell that starts the job inside the sandbox (``$1`` is the entry point)."""
    drop, own = "", ""
    if os.geteuid() == 0:  # a fresh uid per run: no other run's processes share its limits
        uid = 200_000 + secrets.randbelow(60_000)
        own = f"chown -R {uid}:{uid} {HOME}"
        drop = (
            f"prlimit --nproc={max_processes}:{max_processes} -- setpriv --reuid={uid} --regid={uid} "
            "--clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- "
        )
    # dash (sh) only names file descriptors 0-9: the pipes are reached through /proc/self/fd,
    # and the job starts with every descriptor above 2 closed (a tiny exec through Python).
    if memory_bytes:  # the resource bundle's memory: a data-segment limit on every job process
        drop = f"prlimit --data={memory_bytes}:{memory_bytes} -- " + drop
    close_and_exec = "import os,sys; os.closerange(3, 65536); os.execv('/bin/sh', ['sh', sys.argv[1]])"
    return f"""set -u
umask 022
if ! {{ mkdir -p {HOME} {TMP} && chmod 1777 {TMP} && cp -R {JOB_SOURCE}/. {HOME}/ && mkdir -p {OUTPUT}; }}; then
  echo "run refused: the job's files do not fit in its disk quota"
  echo {REFUSED_EXIT} > /proc/self/fd/{status_fd}
  exit {REFUSED_EXIT}
fi
{own}
cd {HOME}
{drop}{sys.executable} -I -S -c "{close_and_exec}" "$1" </dev/null
rc=$?
kill -9 -1 2>/dev/null
echo "$rc" > /proc/self/fd/{status_fd}
read -r _ < /proc/self/fd/{hold_fd}
exit 0
"""


def collect_output(pid: int, target: Path, max_bytes: int) -> int:
    """Copy the sandbox's output folder to ``target`` through /proc; regular files only, no link
    followed at any level. Returns the bytes copied."""
    flags = os.O_RDONLY | os.O_NOFOLLOW
    root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY)
    opened = [root]
    copied = 0
    try:
        current = root
        for part in OUTPUT.strip("/").split("/"):
            current = os.open(part, flags | os.O_DIRECTORY, dir_fd=current)
            opened.append(current)
        for folder, _dirs, files, dir_fd in os.fwalk(".", dir_fd=current, follow_symlinks=False):
            for name in files:
                try:
                    fd = os.open(name, flags, dir_fd=dir_fd)
                except OSError:
                    continue  # a link or something else that is not a plain file
                with os.fdopen(fd, "rb") as source:
                    if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
                        continue
                    destination = target / folder / name
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    with destination.open("wb") as sink:
                        while chunk := source.read(1024 * 1024):
                            copied += len(chunk)
                            if copied > max_bytes:
                                raise OSError("the output is larger than the run's disk quota")
                            sink.write(chunk)
    finally:
        for fd in reversed(opened):
            os.close(fd)
    return copied
