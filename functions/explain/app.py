"""ExplainFunction: DataRobot's predictionExplanations route behind API Gateway (see src/drcompat_lambda)."""

from typing import Any

from drcompat_lambda.handler import build_handler

handler, full_app = build_handler("drcompat-explain")


def __getattr__(name: str) -> Any:
    """``app``: the full FastAPI app, built on first use (prediction events never need it)."""
    if name == "app":
        return full_app.app()
    raise AttributeError(name)
