"""Strip what the Lambda runtime never needs from an installed bundle (a layer's python/ folder).

Removed: bytecode caches, test suites, type stubs, C headers, onnxruntime's offline tooling
(quantization, transformers optimisers, training, the backend-test API and with them protobuf),
and botocore's API models for services the
functions never call (botocore loads models lazily per service, so the rest is dead weight).
With ``--runtime-provided``, also boto3 and its dependencies, which every Lambda Python runtime
already ships (saves about 8 MB; locally the tests use the pinned versions). Shared objects lose
their static symbol tables and debug sections (``llvm-strip --strip-unneeded``, which reads
either architecture; the dynamic symbols that loading needs stay), unless auditwheel rewrote
them: pysimdjson's wheel ships 7 MB of them, PyYAML's 2 MB. Without ``llvm-strip`` on the PATH
that step is skipped, with a note.

    python scripts/strip_bundle.py .aws-sam/build/CoreLayer/python --runtime-provided
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

DROP_DIRS = {"__pycache__", "tests", "include"}  # not "testing": pandas imports pandas._testing
DROP_SUFFIXES = {".pyc", ".pyi", ".pxd", ".pyx", ".c", ".h", ".cpp"}
DROP_PATHS = [
    "onnxruntime/quantization",
    "onnxruntime/transformers",
    "onnxruntime/tools",
    "onnxruntime/training",
    "onnxruntime/datasets",
    "onnxruntime/backend",  # the ONNX backend-test API: the only user of protobuf here
    "google",  # protobuf, needed by onnxruntime's tools and backend only
    "numpy/_pyinstaller",
    "numpy/f2py",
    "numpy/doc",
    "bin",
]
RUNTIME_PROVIDED = ["boto3", "botocore", "s3transfer", "jmespath"]
KEEP_BOTOCORE_SERVICES = {"s3", "sts", "secretsmanager", "scheduler", "lambda", "sso", "sso-oidc", "xray"}


def strip(root: Path, runtime_provided: bool = False) -> int:
    before = size_of(root)
    if runtime_provided:
        for name in RUNTIME_PROVIDED:
            shutil.rmtree(root / name, ignore_errors=True)
            for info in root.glob(f"{name}-*.dist-info"):
                shutil.rmtree(info)
    for relative in DROP_PATHS:
        shutil.rmtree(root / relative, ignore_errors=True)
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_dir() and path.name in DROP_DIRS:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.suffix in DROP_SUFFIXES:
            path.unlink()
    data = root / "botocore" / "data"
    if data.is_dir():
        for service in data.iterdir():
            if service.is_dir() and service.name not in KEEP_BOTOCORE_SERVICES:
                shutil.rmtree(service)
    strip_symbols(root)
    return before - size_of(root)


def strip_symbols(root: Path) -> None:
    """Drop the symbol tables and debug sections of the shared objects a wheel built as they are.

    Objects that auditwheel repaired (an RPATH or RUNPATH, or vendored into a ``*.libs`` folder)
    were rewritten by patchelf, whose layout strip tools can break ("ELF load command
    address/offset not page-aligned", seen with numpy): those are left as they are.
    """
    tool, reader = shutil.which("llvm-strip"), shutil.which("llvm-readelf")
    if tool is None or reader is None:
        print("llvm-strip or llvm-readelf not found: shared objects keep their symbol tables (8-11 MB)")
        return
    objects = [
        p
        for p in sorted(root.rglob("*.so*"))
        if p.is_file() and not p.is_symlink() and not p.parent.name.endswith(".libs") and is_elf(p)
    ]
    plain = [p for p in objects if not patched(reader, p)]
    for start in range(0, len(plain), 200):  # (a bounded command line)
        batch = [str(p) for p in plain[start : start + 200]]
        subprocess.run([tool, "--strip-unneeded", *batch], check=True)  # noqa: S603 - files of the bundle


def is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


def patched(reader: str, path: Path) -> bool:
    """Whether the object has a run-time search path (what auditwheel's patchelf sets)."""
    command = [reader, "--dynamic", str(path)]
    dynamic = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603 - a bundle file
    return "RPATH" in dynamic or "RUNPATH" in dynamic


def size_of(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


if __name__ == "__main__":
    target = Path(sys.argv[1])
    saved = strip(target, runtime_provided="--runtime-provided" in sys.argv[2:])
    print(f"stripped {saved / 2**20:.1f} MiB from {target}")
