"""The HTTP adapter: a FastAPI app over the core, shared by uvicorn (local) and Mangum (Lambda).

``create_app`` is imported on first use, so the framework-free modules here (``endpoint``,
``cors``) cost no FastAPI import (the Lambda adapter's direct path uses them alone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drcompat.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from drcompat.api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
