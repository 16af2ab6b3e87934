"""The management API in one registration: deployments, imported models and tokens."""

from __future__ import annotations

from fastapi import FastAPI

from drcompat.api.routes.deployments import add_deployment_routes
from drcompat.api.routes.models import add_model_routes
from drcompat.api.routes.tokens import add_token_routes
from drcompat.config import Settings
from drcompat.predict import PredictionService
from drcompat.registry.service import RegistryService


def add_registry_routes(app: FastAPI, service: PredictionService, settings: Settings) -> RegistryService:
    registry = add_deployment_routes(app, service, settings)
    add_model_routes(app, service, settings, registry)
    add_token_routes(app, service, settings, registry)
    return registry
