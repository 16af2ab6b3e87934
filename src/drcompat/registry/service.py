"""Deployments, model versions and tokens as one service over storage, for the API and the CLI.

Every change goes through the registry writer (compare-and-swap of deployments.yaml); reads take
the document as stored now, so a manager sees its own writes at once. Prediction processes pick
the change up within their registry refresh time, as for any other write of the file.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from drcompat.deployments import DEPLOYMENTS_KEY, DeploymentRegistry, RegistryError
from drcompat.errors import ApiError, BadRequest, NotFound
from drcompat.models import ModelMetadata, ModelStore
from drcompat.models.metadata import OBJECT_ID
from drcompat.registry import catalog
from drcompat.registry.importer import ImportSpec, import_model
from drcompat.registry.versions import new_object_id
from drcompat.registry.writer import update_registry
from drcompat.storage import Storage, StorageKeyError
from drcompat.yamlio import load_yaml

METADATA_CACHE = 1024
TOKEN_PREFIX = "drc_"  # noqa: S105 - a prefix that makes leaked tokens recognisable, not a secret


@dataclass(frozen=True)
class DeploymentRecord:
    """A deployment as the management API describes it."""

    id: str
    label: str
    model_id: str
    model: ModelMetadata | None  # None when the version cannot be read (the deployment still lists)
    description: str | None = None
    importance: str | None = None
    created_at: str | None = None
    datarobot_key: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenRecord:
    name: str
    description: str
    manage_deployments: bool
    manage_jobs: bool
    deployments: list[str]
    expires_at: float | None = None


@dataclass(frozen=True)
class Replacement:
    accepted: bool
    reason: str
    previous_model_id: str


class RegistryService:
    def __init__(self, storage: Storage, registry: DeploymentRegistry | None = None) -> None:
        self.storage = storage
        self.registry = registry
        self.models = ModelStore(storage)
        self._metadata: dict[str, ModelMetadata] = {}  # a model id's metadata never changes

    # -- reading ----------------------------------------------------------------------------
    def document(self) -> dict[str, Any]:
        try:
            document = load_yaml(self.storage.read(DEPLOYMENTS_KEY))
        except StorageKeyError:
            return {"tokens": {}, "deployments": {}}
        return document if isinstance(document, dict) else {}

    def metadata(self, model_id: str) -> ModelMetadata:
        if model_id not in self._metadata:
            if len(self._metadata) >= METADATA_CACHE:
                self._metadata.clear()  # bounded: ids are immutable, re-reading costs one small file
            if not OBJECT_ID.match(model_id):
                raise NotFound(f"Model {model_id} was not found.")
            try:
                self._metadata[model_id] = self.models.metadata(model_id)
            except ApiError as exc:
                raise NotFound(f"Model {model_id} was not found.") from exc
        return self._metadata[model_id]

    def record(self, deployment_id: str, entry: dict[str, Any]) -> DeploymentRecord:
        model_id = str(entry.get("modelId"))
        try:
            model: ModelMetadata | None = self.metadata(model_id)
        except ApiError:
            model = None
        return DeploymentRecord(
            id=deployment_id,
            label=str(entry.get("label", "")),
            model_id=model_id,
            model=model,
            description=entry.get("description"),
            importance=entry.get("importance"),
            created_at=entry.get("createdAt"),
            datarobot_key=entry.get("datarobotKey"),
            settings=self.settings_of(entry),
        )

    def list_deployments(
        self, search: str | None = None, importance: set[str] | None = None, order_by: str = "label"
    ) -> list[DeploymentRecord]:
        """Deployments matching ``search`` (label or description) and ``importance``, sorted by
        ``label`` or ``createdAt`` (a leading ``-`` reverses)."""
        key = order_by.lstrip("-")
        if key not in ("label", "createdAt"):
            raise BadRequest("orderBy must be label, -label, createdAt or -createdAt.")
        entries = catalog.deployments(self.document()).items()
        ordered = sorted(entries, key=lambda i: (str(i[1].get(key) or ""), str(i[0])), reverse=order_by.startswith("-"))
        found = []
        for deployment_id, entry in ordered:
            text = f"{entry.get('label', '')} {entry.get('description') or ''}".lower()
            if search and search.lower() not in text:
                continue
            if importance and str(entry.get("importance") or "").upper() not in importance:
                continue
            found.append(self.record(str(deployment_id), entry))
        return found

    def get_deployment(self, deployment_id: str) -> DeploymentRecord:
        return self.record(deployment_id, catalog.entry(self.document(), deployment_id))

    @staticmethod
    def settings_of(entry: dict[str, Any]) -> dict[str, Any]:
        return {
            "predictionThreshold": entry.get("predictionThreshold"),
            "humilityRules": list(entry.get("humilityRules") or []),
            "datarobotKeyRequired": bool(entry.get("datarobotKeySha256")),
            "previousModelIds": list(entry.get("previousModelIds") or []),
        }

    # -- writing ----------------------------------------------------------------------------
    def _write(self, mutate: Callable[[dict[str, Any]], Any], removing: tuple[str, ...] = ()) -> Any:
        try:
            result = update_registry(self.storage, mutate, removing=removing)
        except RegistryError as exc:  # the edits passed their own checks; the whole document did not
            raise BadRequest(f"The change would make deployments.yaml invalid: {exc}") from exc
        self._reload()
        return result

    def _reload(self) -> None:
        if self.registry is not None:
            self.registry.reload()  # this process serves its own write at once

    def import_model(self, onnx_bytes: bytes, sample_csv: bytes, spec: ImportSpec) -> ModelMetadata:
        metadata = import_model(self.storage, onnx_bytes, sample_csv, spec)
        self._metadata[metadata.model_id] = metadata
        return metadata

    def list_models(self) -> list[ModelMetadata]:
        ids = sorted({key.split("/")[1] for key in self.storage.list("models/") if key.endswith("/model.yaml")})
        found = []
        for model_id in ids:
            try:
                found.append(self.metadata(model_id))
            except ApiError:
                continue  # a broken version is not listed (the service would not load it either)
        return found

    def create_deployment(self, model_id: str, fields: dict[str, Any], tokens: list[str]) -> str:
        """A new deployment of ``model_id``, open to ``tokens`` (the creator's, over the API)."""
        threshold = fields.pop("predictionThreshold", None)
        checked = catalog.check_fields({k: v for k, v in fields.items() if v is not None})
        if "label" not in checked:
            raise BadRequest("label is required.")
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
                raise BadRequest("predictionThreshold must be a number in [0, 1].")
            checked["predictionThreshold"] = float(threshold)
        self.models_loadable(model_id)
        deployment_id = new_object_id()
        return str(
            self._write(
                partial(
                    catalog.add_deployment,
                    deployment_id=deployment_id,
                    model_id=model_id,
                    fields=checked,
                    token_names=tokens,
                )
            )
        )

    def models_loadable(self, model_id: str) -> ModelMetadata:
        """The version must load as the service would load it before anything points at it."""
        metadata = self.metadata(model_id)
        try:
            self.models.load(model_id)
        except ApiError as exc:
            raise BadRequest(f"Model {model_id} cannot be served: {exc.message}") from exc
        return metadata

    def update_deployment(self, deployment_id: str, fields: dict[str, Any]) -> None:
        if not fields:
            raise BadRequest("Nothing to update: send label, description or importance.")
        self._write(partial(catalog.update_deployment, deployment_id=deployment_id, fields=fields))

    def delete_deployment(self, deployment_id: str) -> None:
        self._write(partial(catalog.remove_deployment, deployment_id=deployment_id), removing=(deployment_id,))

    def update_settings(self, deployment_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        rules = changes.get("humilityRules")
        if isinstance(rules, list):
            self._check_rule_features(deployment_id, rules)
        self._write(partial(catalog.update_settings, deployment_id=deployment_id, changes=changes))
        return self.settings_of(catalog.entry(self.document(), deployment_id))

    def _check_rule_features(self, deployment_id: str, rules: list[Any]) -> None:
        """A rule on an input must name one of the model's features, of the kind it tests."""
        model = self.metadata(self.get_deployment(deployment_id).model_id)
        kinds = {f.name: f.type for f in model.features}
        wanted = {"outlyingInput": "numeric", "lowObservationRegion": "categorical"}
        for rule in rules:
            if not isinstance(rule, dict) or rule.get("trigger") not in wanted:
                continue
            feature = rule.get("feature")
            if feature not in kinds:
                raise BadRequest(f"Humility rule feature {feature!r} is not a feature of model {model.model_id}.")
            if kinds[feature] != wanted[rule["trigger"]]:
                raise BadRequest(f"{rule['trigger']} needs a {wanted[rule['trigger']]} feature; {feature!r} is not.")

    def validate_replacement(self, deployment_id: str, model_id: str, tolerance: float = 0.0) -> Replacement:
        """The retraining promotion's checks (``jobs.publish.compare``), without switching."""
        from drcompat.jobs.publish import compare

        current_id = str(catalog.entry(self.document(), deployment_id).get("modelId"))
        candidate = self.models_loadable(model_id)
        if model_id == current_id:
            return Replacement(False, "the deployment already serves this model", current_id)
        try:
            current = self.metadata(current_id)
        except ApiError:
            reason = f"the current model {current_id} cannot be read, so the candidate cannot be checked against it"
            return Replacement(False, reason, current_id)
        refusal = compare(current, candidate, tolerance)
        if refusal is not None:
            return Replacement(False, refusal, current_id)
        return Replacement(True, "compatible and not worse on the holdout", current_id)

    def replace_model(self, deployment_id: str, model_id: str, tolerance: float = 0.0) -> Replacement:
        """Checked like a retraining promotion, and switched by the same code (``jobs.publish.promote``)."""
        from drcompat.jobs.publish import promote

        checked = self.validate_replacement(deployment_id, model_id, tolerance)
        if not checked.accepted:
            return checked
        decision = promote(self.storage, deployment_id, self.metadata(model_id), tolerance)
        self._reload()
        reason = decision.reason.split(": ", 1)[-1]
        return Replacement(decision.accepted, reason, decision.previous_model_id or checked.previous_model_id)

    # -- tokens -----------------------------------------------------------------------------
    def list_tokens(self) -> list[TokenRecord]:
        document = self.document()
        return [self._token(document, str(name)) for name in sorted(catalog.tokens(document))]

    def get_token(self, name: str) -> TokenRecord:
        return self._token(self.document(), name)

    def _token(self, document: dict[str, Any], name: str) -> TokenRecord:
        entry = catalog.tokens(document).get(name)
        if not isinstance(entry, dict):
            raise NotFound(f"Token {name!r} was not found.")
        return TokenRecord(
            name=name,
            description=str(entry.get("description", "")),
            manage_deployments=bool(entry.get("manageDeployments", False)),
            manage_jobs=bool(entry.get("manageJobs", False)),
            deployments=catalog.scope_of(document, name),
            expires_at=entry.get("expiresAt"),
        )

    def create_token(
        self,
        name: str,
        deployments: list[str],
        manage_deployments: bool = False,
        manage_jobs: bool = False,
        description: str = "",
        expires_at: float | None = None,
    ) -> tuple[str, TokenRecord]:
        """The secret (shown once: only its SHA-256 is stored) and the token's record."""
        catalog.check_token_name(name)
        if not isinstance(manage_deployments, bool) or not isinstance(manage_jobs, bool):
            raise BadRequest("manageDeployments and manageJobs must be true or false.")
        if not isinstance(deployments, list) or not all(isinstance(d, str) for d in deployments):
            raise BadRequest("deployments must be a list of deployment ids.")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        flags: dict[str, Any] = {"description": str(description or "")[:500]}
        if manage_deployments:
            flags["manageDeployments"] = True
        if manage_jobs:
            flags["manageJobs"] = True
        if expires_at is not None:
            if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
                raise BadRequest("expiresAt must be a number of epoch seconds.")
            flags["expiresAt"] = int(expires_at)
        digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
        self._write(partial(catalog.add_token, name=name, secret_sha256=digest, flags=flags, scope=list(deployments)))
        return secret, self._token(self.document(), name)

    def scope_token(self, name: str, add: list[str], remove: list[str]) -> TokenRecord:
        for value in (add, remove):
            if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
                raise BadRequest("addDeployments and removeDeployments must be lists of deployment ids.")
        self._write(partial(catalog.scope_token, name=name, add=add, remove=remove))
        return self._token(self.document(), name)

    def revoke_token(self, name: str) -> None:
        self._write(partial(catalog.revoke_token, name=name))
