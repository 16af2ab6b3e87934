"""The jobs CLI answers a missing or broken file with one line and exit code 2 (refused), never a
traceback and never 1 (the code of a failed job)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT
from drcompat.jobs.templates import GALLERY


@pytest.mark.parametrize(
    "args",
    [
        ["run", "missing-job-folder"],
        ["run", str(GALLERY / "sample"), "--runtime-params-file", "missing-values.yaml"],
        ["credential", "warehouse", "--from-file", "missing-credential.yaml"],
    ],
)
def test_missing_files_are_refused_with_a_message(args, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "drcompat.jobs", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "missing" in result.stderr


def test_broken_yaml_is_refused_with_a_message(tmp_path):
    bad = tmp_path / "cred.yaml"
    bad.write_text("credentialType: [basic\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "drcompat.jobs",
            "credential",
            "w",
            "--from-file",
            str(bad),
            "--store",
            str(tmp_path / "s"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr and "YAML" in result.stderr
