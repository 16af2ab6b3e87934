"""``metadata.yaml`` and its ``runtimeParameterDefinitions``, validated with errors that name the
line and the field, so a bad file is fixed from the message alone."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

from drcompat.errors import BadRequest

PARAMETER_TYPES = ("string", "boolean", "numeric", "credential", "deployment")
CREDENTIAL_TYPES = ("basic", "azure", "gcp", "s3", "api_token")
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KNOWN_KEYS = {
    "fieldName",
    "type",
    "defaultValue",
    "minValue",
    "maxValue",
    "credentialType",
    "allowEmpty",
    "description",
}


class JobMetadataError(BadRequest):
    """metadata.yaml is unusable; the message says where."""


@dataclass(frozen=True)
class ParameterDefinition:
    field_name: str
    type: str
    default: Any = None
    min_value: float | None = None
    max_value: float | None = None
    credential_type: str | None = None
    allow_empty: bool = True
    description: str = ""


@dataclass(frozen=True)
class JobMetadata:
    name: str
    parameters: tuple[ParameterDefinition, ...]

    def parameter(self, name: str) -> ParameterDefinition | None:
        return next((p for p in self.parameters if p.field_name == name), None)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_metadata(text: str | bytes, source: str = "metadata.yaml") -> JobMetadata:
    try:
        root = yaml.compose(text)
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise JobMetadataError(f"{source}{where}: {problem}.") from exc
    if document is None:
        document, root = {}, None
    if not isinstance(document, dict):
        raise JobMetadataError(f"{source}: the top level must be a mapping (name, runtimeParameterDefinitions).")
    definitions = document.get("runtimeParameterDefinitions") or []
    if not isinstance(definitions, list):
        raise JobMetadataError(f"{source}: runtimeParameterDefinitions must be a list.")
    nodes = _definition_nodes(root)
    parameters: list[ParameterDefinition] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(definitions):
        line = nodes[index].start_mark.line + 1 if index < len(nodes) else 0
        where = f"{source} line {line}: runtimeParameterDefinitions[{index}]"
        definition = _definition(item, where)
        first = seen.get(definition.field_name)
        if first is not None:
            raise JobMetadataError(
                f"{where}: duplicate fieldName {definition.field_name!r} (first defined on line {first})."
            )
        seen[definition.field_name] = line
        parameters.append(definition)
    return JobMetadata(name=str(document.get("name") or ""), parameters=tuple(parameters))


def _definition_nodes(root: yaml.Node | None) -> list[yaml.Node]:
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if getattr(key, "value", None) == "runtimeParameterDefinitions" and isinstance(value, yaml.SequenceNode):
            return list(value.value)
    return []


def _definition(item: Any, where: str) -> ParameterDefinition:
    if not isinstance(item, dict):
        raise JobMetadataError(f"{where}: each definition must be a mapping with fieldName and type.")
    name = item.get("fieldName")
    if not isinstance(name, str) or not FIELD_NAME.match(name):
        raise JobMetadataError(f"{where}: fieldName must be a name of letters, digits and underscores.")
    where = f"{where} ({name})"
    unknown = sorted(set(item) - KNOWN_KEYS)
    if unknown:
        raise JobMetadataError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(KNOWN_KEYS))}.")
    kind = item.get("type")
    if kind not in PARAMETER_TYPES:
        raise JobMetadataError(f"{where}: unknown type {kind!r}; expected one of {', '.join(PARAMETER_TYPES)}.")
    allow_empty = item.get("allowEmpty", True)
    if not isinstance(allow_empty, bool):
        raise JobMetadataError(f"{where}: allowEmpty must be true or false.")
    default = item.get("defaultValue")
    minimum, maximum = item.get("minValue"), item.get("maxValue")
    if kind != "numeric" and (minimum is not None or maximum is not None):
        raise JobMetadataError(f"{where}: minValue/maxValue apply to numeric parameters only.")
    for key, bound in (("minValue", minimum), ("maxValue", maximum)):
        if bound is not None and not _is_number(bound):
            raise JobMetadataError(f"{where}: {key} must be a number.")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise JobMetadataError(f"{where}: minValue {minimum} is greater than maxValue {maximum}.")
    credential_type = item.get("credentialType")
    if kind == "credential":
        if default is not None:
            raise JobMetadataError(f"{where}: a credential parameter cannot have a defaultValue.")
        if credential_type is not None and credential_type not in CREDENTIAL_TYPES:
            raise JobMetadataError(
                f"{where}: unknown credentialType {credential_type!r}; expected one of {', '.join(CREDENTIAL_TYPES)}."
            )
    elif credential_type is not None:
        raise JobMetadataError(f"{where}: credentialType applies to credential parameters only.")
    if default is not None:
        _check_default(kind, default, minimum, maximum, where)
    description = item.get("description") or ""
    return ParameterDefinition(
        field_name=name,
        type=kind,
        default=float(default) if kind == "numeric" and default is not None else default,
        min_value=float(minimum) if minimum is not None else None,
        max_value=float(maximum) if maximum is not None else None,
        credential_type=credential_type,
        allow_empty=allow_empty,
        description=str(description),
    )


def _check_default(kind: str, default: Any, minimum: Any, maximum: Any, where: str) -> None:
    if kind == "boolean" and not isinstance(default, bool):
        raise JobMetadataError(f"{where}: defaultValue must be true or false for a boolean parameter.")
    if kind == "numeric":
        if not _is_number(default):
            raise JobMetadataError(f"{where}: defaultValue must be a number for a numeric parameter.")
        if (minimum is not None and default < minimum) or (maximum is not None and default > maximum):
            raise JobMetadataError(f"{where}: defaultValue {default} is outside [{minimum}, {maximum}].")
    if kind in ("string", "deployment") and not isinstance(default, str):
        raise JobMetadataError(f"{where}: defaultValue must be text for a {kind} parameter.")
