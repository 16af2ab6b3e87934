"""Edits of the deployments.yaml document: small functions ``(document) -> value`` that the
registry writer applies under compare-and-swap. They check what they need and raise an ApiError
to abort (nothing is written then); the writer validates the whole result with ``parse_registry``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from typing import Any

from drcompat.errors import ApiError, BadRequest, NotFound
from drcompat.humility import RuleError, parse_rules
from drcompat.registry.versions import new_object_id

IMPORTANCE = ("CRITICAL", "HIGH", "MODERATE", "LOW")
TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RESERVED_PREFIX = "run-"  # jobs.tokens names a run's token run-<run id>
MAX_LABEL = 512
MAX_DESCRIPTION = 10_000
DEPLOYMENT_KEYS = ("label", "description", "importance")


class Conflict(ApiError):
    status = 409


def deployments(document: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(document.get("deployments"), dict):
        document["deployments"] = {}
    return document["deployments"]


def tokens(document: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(document.get("tokens"), dict):
        document["tokens"] = {}
    return document["tokens"]


def entry(document: dict[str, Any], deployment_id: str) -> dict[str, Any]:
    found = deployments(document).get(deployment_id)
    if not isinstance(found, dict):
        raise NotFound(f"Deployment {deployment_id} was not found.")
    return found


def check_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """label, description and importance as DataRobot takes them; anything else is refused."""
    unknown = sorted(set(fields) - set(DEPLOYMENT_KEYS))
    if unknown:
        raise BadRequest(f"Unknown deployment fields: {', '.join(unknown)} (allowed: label, description, importance).")
    checked: dict[str, Any] = {}
    if "label" in fields:
        label = fields["label"]
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
            raise BadRequest(f"label must be a non-empty string of at most {MAX_LABEL} characters.")
        checked["label"] = label
    if "description" in fields:
        description = fields["description"]
        if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
            raise BadRequest(f"description must be a string of at most {MAX_DESCRIPTION} characters, or null.")
        checked["description"] = description
    if "importance" in fields:
        importance = fields["importance"]
        if importance is not None and (not isinstance(importance, str) or importance.upper() not in IMPORTANCE):
            raise BadRequest(f"importance must be one of {', '.join(IMPORTANCE)}.")
        checked["importance"] = importance.upper() if isinstance(importance, str) else None
    return checked


def add_deployment(
    document: dict[str, Any], deployment_id: str, model_id: str, fields: dict[str, Any], token_names: Iterable[str]
) -> str:
    table = deployments(document)
    if deployment_id in table:
        raise Conflict(f"Deployment {deployment_id} already exists.")
    unknown = sorted(set(token_names) - set(tokens(document)))
    if unknown:
        raise NotFound(f"Unknown tokens: {', '.join(unknown)}.")
    new: dict[str, Any] = {"label": fields.get("label", ""), "modelId": model_id, "tokens": sorted(set(token_names))}
    for key in ("description", "importance"):
        if fields.get(key) is not None:
            new[key] = fields[key]
    if fields.get("predictionThreshold") is not None:
        new["predictionThreshold"] = fields["predictionThreshold"]
    new["createdAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    table[deployment_id] = new
    return deployment_id


def update_deployment(document: dict[str, Any], deployment_id: str, fields: dict[str, Any]) -> None:
    target = entry(document, deployment_id)
    for key, value in check_fields(fields).items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def remove_deployment(document: dict[str, Any], deployment_id: str) -> None:
    entry(document, deployment_id)
    del deployments(document)[deployment_id]


def datarobot_key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def update_settings(document: dict[str, Any], deployment_id: str, changes: dict[str, Any]) -> None:
    """predictionThreshold, humilityRules and datarobotKey; null removes a setting."""
    target = entry(document, deployment_id)
    unknown = sorted(set(changes) - {"predictionThreshold", "humilityRules", "datarobotKey"})
    if unknown:
        raise BadRequest(
            f"Unknown settings: {', '.join(unknown)} (editable: predictionThreshold, humilityRules, datarobotKey)."
        )
    if "predictionThreshold" in changes:
        value = changes["predictionThreshold"]
        if value is None:
            target.pop("predictionThreshold", None)
        elif isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise BadRequest("predictionThreshold must be a number in [0, 1], or null.")
        else:
            target["predictionThreshold"] = float(value)
    if "humilityRules" in changes:
        rules = changes["humilityRules"] or []
        if isinstance(rules, list):  # new rules get an id, as DataRobot assigns one
            rules = [{"id": new_object_id(), **r} if isinstance(r, dict) and "id" not in r else r for r in rules]
        try:
            parse_rules(rules, f"deployment {deployment_id}")
        except RuleError as exc:
            raise BadRequest(str(exc)) from exc
        if rules:
            target["humilityRules"] = rules
        else:
            target.pop("humilityRules", None)
    if "datarobotKey" in changes:
        key = changes["datarobotKey"]
        if key is None:
            target.pop("datarobotKey", None)
            target.pop("datarobotKeySha256", None)
        elif not isinstance(key, str) or not 8 <= len(key) <= 256:
            raise BadRequest("datarobotKey must be a string of 8 to 256 characters, or null.")
        else:
            # DataRobot shows the key to whoever may read the deployment (defaultPredictionServer),
            # so clients can send it; the prediction path checks the digest.
            target["datarobotKey"] = key
            target["datarobotKeySha256"] = datarobot_key_digest(key)


def check_token_name(name: str) -> str:
    if not isinstance(name, str) or not TOKEN_NAME.match(name):
        raise BadRequest("Token names are 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit.")
    if name.startswith(RESERVED_PREFIX):
        raise BadRequest(f"Token names starting with {RESERVED_PREFIX!r} are reserved for job runs.")
    return name


def add_token(document: dict[str, Any], name: str, secret_sha256: str, flags: dict[str, Any], scope: list[str]) -> None:
    table = tokens(document)
    if name in table:
        raise Conflict(f"A token named {name!r} exists already; revoke it first or pick another name.")
    for deployment_id in scope:
        entry(document, deployment_id)
    table[name] = {"sha256": secret_sha256, **flags}
    for deployment_id in scope:
        target = entry(document, deployment_id)
        target["tokens"] = sorted({*target.get("tokens", []), name})


def scope_token(document: dict[str, Any], name: str, add: list[str], remove: list[str]) -> list[str]:
    """Open (``add``) or close (``remove``) deployments to the token; returns its scope."""
    if name not in tokens(document):
        raise NotFound(f"Token {name!r} was not found.")
    for deployment_id in [*add, *remove]:
        entry(document, deployment_id)
    for deployment_id in add:
        target = entry(document, deployment_id)
        target["tokens"] = sorted({*target.get("tokens", []), name})
    for deployment_id in remove:
        target = entry(document, deployment_id)
        target["tokens"] = [t for t in target.get("tokens", []) if t != name]
    return scope_of(document, name)


def scope_of(document: dict[str, Any], name: str) -> list[str]:
    return sorted(d for d, e in deployments(document).items() if name in (e.get("tokens") or []))


def revoke_token(document: dict[str, Any], name: str) -> None:
    if name not in tokens(document):
        raise NotFound(f"Token {name!r} was not found.")
    del tokens(document)[name]
    for target in deployments(document).values():
        if name in (target.get("tokens") or []):
            target["tokens"] = [t for t in target["tokens"] if t != name]
