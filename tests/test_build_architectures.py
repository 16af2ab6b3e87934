"""The SAM build receives the architecture, and copies no more than it needs.

`sam build` runs CoreLayer's build with the Makefile named by its ContextPath
(``!Sub layers/core/${Architecture}``) in the repository root; these tests run those same
Makefiles, as SAM does, and read the ELF headers of what they install. The two full builds
download and unpack ~150 MB each, so they run under ``make test`` (DRC_TEST_BUILDS=1) and
are skipped by a bare ``pytest``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from check_architecture import machines


class CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags kept as ``{"!Tag": value}``."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_mapping(node)  # type: ignore[arg-type]
    return {f"!{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _tagged)
TEMPLATE = yaml.load((ROOT / "template.yaml").read_text(), Loader=CloudFormationLoader)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_layers_copy_small_folders_and_core_gets_the_architecture():
    resources = TEMPLATE["Resources"]
    for name in ("CoreLayer", "ModelsLayer"):
        layer = resources[name]
        content = layer["Properties"]["ContentUri"]
        assert content not in (".", "./"), f"{name} would copy the whole repository (.venv included)"
        assert folder_bytes(ROOT / content) < 10 * 1024 * 1024
        assert layer["Metadata"]["BuildMethod"] == "makefile" and layer["Metadata"]["WorkingDirectory"] == "."
    core = resources["CoreLayer"]["Metadata"]
    assert core["ContextPath"] == {"!Sub": "layers/core/${Architecture}"}
    assert core["BuildArchitecture"] == {"!Ref": "Architecture"}
    for arch in TEMPLATE["Parameters"]["Architecture"]["AllowedValues"]:
        makefile = (ROOT / "layers" / "core" / arch / "Makefile").read_text()
        assert f"ARCH := {arch}" in makefile and "include Makefile" in makefile


def test_the_architecture_makefiles_pass_their_arch_to_the_root_makefile():
    for arch, wheel in (("arm64", "aarch64"), ("x86_64", "x86_64")):
        result = subprocess.run(
            ["make", "--no-print-directory", "-n", "-f", f"layers/core/{arch}/Makefile", "build-CoreLayer"],
            cwd=ROOT,
            env={**os.environ, "ARTIFACTS_DIR": "/nonexistent"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert f"--platform manylinux2014_{wheel}" in result.stdout


@pytest.mark.skipif(not os.environ.get("DRC_TEST_BUILDS"), reason="full layer builds run under make test")
@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
def test_core_layer_holds_binaries_of_its_architecture(arch, tmp_path):
    """What `sam build --parameter-overrides Architecture=<arch>` runs for CoreLayer."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-f", f"layers/core/{arch}/Makefile", "build-CoreLayer"],
        cwd=ROOT,
        env={**os.environ, "ARTIFACTS_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    onnxruntime = machines(tmp_path / "python" / "onnxruntime")
    assert set(onnxruntime) == {arch} and onnxruntime[arch] >= 1
    assert set(machines(tmp_path)) == {arch}  # numpy, pandas, ... too
