"""The HTTP adapter: a FastAPI app over the core, shared by uvicorn (local) and Mangum (Lambda)."""

from drcompat.api.app import create_app

__all__ = ["create_app"]
