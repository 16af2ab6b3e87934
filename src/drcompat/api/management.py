"""What every management route shares: the manageDeployments check, DataRobot's pagination,
the public base URL, and JSON bodies read with a limit and refused with a clear 400."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from drcompat.api.pagination import paginate as paginate_list
from drcompat.auth import authenticate, authorize_deployments, token_from_header
from drcompat.config import Settings
from drcompat.deployments import DeploymentRegistry

DEFAULT_LIMIT = 20


def manager(registry: DeploymentRegistry, request: Request) -> str:
    """The calling token's name: 401 without valid credentials, 403 without manageDeployments."""
    snapshot = registry.snapshot()
    name = authenticate(snapshot, token_from_header(request.headers.get("authorization")))
    authorize_deployments(snapshot, name)
    return name


def public_base(settings: Settings, request: Request) -> str:
    """The URL clients reach this service at (behind API Gateway, the stage is part of it)."""
    return str(settings.prediction_server_url or request.base_url).rstrip("/")


def paginate(settings: Settings, request: Request, items: list[Any]) -> dict[str, Any]:
    """DataRobot's list shape (the shared helper), its links on the public base URL."""
    page = paginate_list(request, items, DEFAULT_LIMIT)
    inner = str(request.base_url).rstrip("/")
    outer = public_base(settings, request)
    for key in ("next", "previous"):
        link = page[key]
        if isinstance(link, str) and link.startswith(inner) and outer != inner:
            page[key] = outer + link[len(inner) :]
    return page
