"""Runtime parameter values: defaults, per-job and per-run overrides, checked before a job starts,
and delivered as DataRobot's runtime delivers them (``MLOPS_RUNTIME_PARAM_<name>`` = JSON
``{"type": ..., "payload": ...}``)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from drcompat.errors import BadRequest
from drcompat.jobs.credentials import CredentialStore, check_credential
from drcompat.jobs.metadata import JobMetadata, ParameterDefinition
from drcompat.models.metadata import OBJECT_ID

ENV_PREFIX = "MLOPS_RUNTIME_PARAM_"
TRUE_TEXT = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


class RuntimeParameterError(BadRequest):
    """A value does not fit its definition; the message names the parameter."""


@dataclass(frozen=True)
class ResolvedParameter:
    name: str
    type: str
    payload: Any

    def environment_value(self) -> str:
        return json.dumps({"type": self.type, "payload": self.payload})


def load_values_file(text: str | bytes, source: str = "runtime parameter values") -> dict[str, Any]:
    """The YAML DRUM's ``--runtime-params-file`` takes: name -> value (a credential as a mapping)."""
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RuntimeParameterError(f"{source}: not valid YAML.") from exc
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise RuntimeParameterError(f"{source}: must map parameter names to values.")
    return values


def resolve(
    metadata: JobMetadata,
    *layers: Mapping[str, Any],
    credentials: CredentialStore | None = None,
) -> list[ResolvedParameter]:
    """Defaults, then each layer of overrides in order (job settings, then the run)."""
    values: dict[str, Any] = {p.field_name: p.default for p in metadata.parameters}
    for layer in layers:
        unknown = sorted(set(layer) - set(values))
        if unknown:
            raise RuntimeParameterError(f"Unknown runtime parameter {unknown[0]!r}: metadata.yaml does not define it.")
        values.update(layer)
    return [_check(p, values[p.field_name], credentials) for p in metadata.parameters]


def environment(parameters: list[ResolvedParameter]) -> dict[str, str]:
    return {ENV_PREFIX + p.name: p.environment_value() for p in parameters}


def secrets(parameters: list[ResolvedParameter]) -> list[str]:
    """Every credential field value (each string inside a structured one, such as a GCP key given
    as a mapping), to be masked in run logs; the masker also masks each of their lines."""
    found: list[str] = []
    for parameter in parameters:
        if parameter.type == "credential" and isinstance(parameter.payload, dict):
            for key, value in parameter.payload.items():
                if key not in ("credentialType", "name", "description"):
                    found += _leaves(value)
    return found


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [json.dumps(value), *(text for item in value.values() for text in _leaves(item))]
    if isinstance(value, list):
        return [text for item in value for text in _leaves(item)]
    return [] if value in (None, "") or isinstance(value, bool) else [str(value)]


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def _check(definition: ParameterDefinition, value: Any, credentials: CredentialStore | None) -> ResolvedParameter:
    name, kind = definition.field_name, definition.type
    if _empty(value):
        if not definition.allow_empty:
            raise RuntimeParameterError(f"Runtime parameter {name!r} must be set (allowEmpty is false).")
        return ResolvedParameter(name, kind, None)
    if kind == "boolean":
        payload: Any = _boolean(name, value)
    elif kind == "numeric":
        payload = _numeric(definition, value)
    elif kind == "credential":
        payload = _credential(definition, value, credentials)
    else:
        if not isinstance(value, str):
            raise RuntimeParameterError(f"Runtime parameter {name!r} must be text, not {type(value).__name__}.")
        if kind == "deployment" and not OBJECT_ID.match(value):
            raise RuntimeParameterError(f"Runtime parameter {name!r} must be a deployment id (24 hex characters).")
        payload = value
    return ResolvedParameter(name, kind, payload)


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_TEXT:
        return TRUE_TEXT[value.strip().lower()]
    raise RuntimeParameterError(f"Runtime parameter {name!r} must be true or false, not {str(value)[:40]!r}.")


def _numeric(definition: ParameterDefinition, value: Any) -> float:
    name = definition.field_name
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise RuntimeParameterError(f"Runtime parameter {name!r} must be a number, not {str(value)[:40]!r}.") from exc
    if not math.isfinite(number):
        raise RuntimeParameterError(f"Runtime parameter {name!r} must be a finite number.")
    low, high = definition.min_value, definition.max_value
    if (low is not None and number < low) or (high is not None and number > high):
        raise RuntimeParameterError(f"Runtime parameter {name!r} = {number:g} is outside [{low}, {high}].")
    return number


def _credential(definition: ParameterDefinition, value: Any, credentials: CredentialStore | None) -> dict[str, Any]:
    name = definition.field_name
    if isinstance(value, str):  # a reference to the credential store
        if credentials is None:
            raise RuntimeParameterError(
                f"Runtime parameter {name!r} names credential {value!r}, but no credential store is set."
            )
        payload = credentials.get(value)
    elif isinstance(value, dict):  # inline, as in DRUM's runtime-params-file
        payload = dict(value)
    else:
        raise RuntimeParameterError(
            f"Runtime parameter {name!r} must name a stored credential or be a credential mapping."
        )
    problem = check_credential(payload)
    if problem:
        raise RuntimeParameterError(f"Runtime parameter {name!r}: {problem}.")
    if definition.credential_type and payload["credentialType"] != definition.credential_type:
        raise RuntimeParameterError(
            f"Runtime parameter {name!r} needs a {definition.credential_type} credential, "
            f"not {payload['credentialType']}."
        )
    return payload
