"""Execution environments and resource bundles: the job runners this platform has, and the sizes
a job may ask for. DataRobot lists them under ``/api/v2/executionEnvironments/`` and
``/api/v2/mlops/compute/bundles/``; here they are a catalogue shipped with the package
(``environments.yaml``), because each environment is a runner that has to be built and deployed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from drcompat.errors import NotFound
from drcompat.yamlio import load_yaml

CATALOGUE = Path(__file__).with_name("environments.yaml")


@dataclass(frozen=True)
class ResourceBundle:
    id: str
    name: str
    description: str
    cpu_count: float
    memory_bytes: int
    lambda_memory_mb: int
    is_default: bool = False


@cache
def _catalogue() -> dict[str, Any]:
    data = load_yaml(CATALOGUE.read_text())
    return data if isinstance(data, dict) else {}


def environments() -> list[dict[str, Any]]:
    """Every environment in DataRobot's REST shape (latest version included)."""
    out = []
    for entry in _catalogue().get("environments", []):
        versions = [version_record(entry, v) for v in entry.get("versions", [])]
        out.append(
            {
                "id": entry["id"],
                "name": entry["name"],
                "description": entry.get("description", ""),
                "programmingLanguage": entry.get("programmingLanguage", "python"),
                "isPublic": True,
                "created": entry.get("created"),
                "latestVersion": versions[-1] if versions else None,
                "latestSuccessfulVersion": versions[-1] if versions else None,
                "requiredMetadataKeys": [],
                "useCases": entry.get("useCases", []),
                "runner": entry.get("runner", "python"),
            }
        )
    return out


def version_record(entry: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": version["id"],
        "environmentId": entry["id"],
        "buildStatus": "success",
        "imageId": version.get("imageId", ""),
        "label": version.get("label"),
        "description": version.get("description"),
        "created": version.get("created"),
        "dockerContextSize": None,
        "dockerImageSize": None,
        "sourceDockerImageUri": version.get("sourceDockerImageUri"),
    }


def environment(environment_id: str) -> dict[str, Any]:
    for entry in environments():
        if entry["id"] == environment_id:
            return entry
    raise NotFound(f"Execution environment {environment_id} was not found.")


def versions(environment_id: str) -> list[dict[str, Any]]:
    environment(environment_id)
    entry = next(e for e in _catalogue()["environments"] if e["id"] == environment_id)
    return [version_record(entry, v) for v in entry.get("versions", [])]


def default_environment() -> dict[str, Any]:
    return environments()[0]


def resource_bundles() -> list[ResourceBundle]:
    return [
        ResourceBundle(
            id=b["id"],
            name=b["name"],
            description=b.get("description", ""),
            cpu_count=float(b["cpuCount"]),
            memory_bytes=int(b["memoryBytes"]),
            lambda_memory_mb=int(b["lambdaMemoryMb"]),
            is_default=bool(b.get("isDefault", False)),
        )
        for b in _catalogue().get("resourceBundles", [])
    ]


def resource_bundle(bundle_id: str | None) -> ResourceBundle:
    """A bundle by id; the default one for None."""
    bundles = resource_bundles()
    for bundle in bundles:
        if (bundle_id is None and bundle.is_default) or bundle.id == bundle_id:
            return bundle
    raise NotFound(f"Resource bundle {bundle_id} was not found.")


def bundle_record(bundle: ResourceBundle) -> dict[str, Any]:
    """DataRobot's REST shape of a resource bundle, with the Lambda size it maps to."""
    return {
        "id": bundle.id,
        "name": bundle.name,
        "description": bundle.description,
        "cpuCount": bundle.cpu_count,
        "memoryBytes": bundle.memory_bytes,
        "gpuMaker": None,
        "gpuCount": 0,
        "gpuMemoryBytes": 0,
        "useCases": ["customJob"],
        "isDefault": bundle.is_default,
        "isDeleted": False,
        "hasGpu": False,
        "lambdaMemoryMb": bundle.lambda_memory_mb,
    }
