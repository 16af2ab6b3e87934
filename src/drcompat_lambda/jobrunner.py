"""The job runner's Lambda entry: EventBridge Scheduler payloads in, a run summary out.

The custom-jobs capability (running job folders, retraining policies) plugs in here; until it
lands, the runner understands the default schedule's payload and reports the policies it finds.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from drcompat.config import Settings
from drcompat.storage import storage_from_settings

logger = Logger(service="drcompat-jobrunner")
ACTIONS = {"run-due-policies"}


def build_handler() -> Any:
    storage = storage_from_settings(Settings())

    @logger.inject_lambda_context
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        action = event.get("action") if isinstance(event, dict) else None
        if action not in ACTIONS:
            logger.warning("unknown job runner event", extra={"action": str(action)[:64]})
            return {"status": 400, "message": f"Unknown action {action!r}: expected one of {sorted(ACTIONS)}."}
        policies = [key for key in storage.list("policies/") if key.endswith(".yaml")]
        logger.info("scheduled run", extra={"action": action, "policies": len(policies)})
        return {"status": 200, "action": action, "policiesFound": len(policies), "runsStarted": []}

    return handler
