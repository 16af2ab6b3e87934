"""Association ID settings (kept on the deployment in the registry) and actuals ingestion."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from drcompat.deployments import Deployment
from drcompat.errors import BadRequest, NotFound
from drcompat.monitoring.store import hour_of, write_part
from drcompat.registry import update_registry
from drcompat.storage import Storage

MAX_ACTUALS = 10_000  # rows per request, as DataRobot's actuals/fromJSON allows


def association_settings(deployment: Deployment) -> dict[str, Any]:
    setting = deployment.settings.get("associationId")
    setting = setting if isinstance(setting, dict) else {}
    return {
        "columnNames": list(setting.get("columnNames") or []) or None,
        "requiredInPredictionRequests": bool(setting.get("requiredInPredictionRequests", False)),
    }


def update_association_settings(storage: Storage, deployment_id: str, change: Any) -> dict[str, Any]:
    """Apply ``{"columnNames": [name], "requiredInPredictionRequests": bool}`` (either may be absent)."""
    if not isinstance(change, dict) or not change:
        raise BadRequest("associationId must be an object with columnNames and/or requiredInPredictionRequests.")
    unknown = set(change) - {"columnNames", "requiredInPredictionRequests"}
    if unknown:
        raise BadRequest(f"Unknown associationId fields: {', '.join(sorted(map(str, unknown)))}.")
    names = change.get("columnNames")
    if names is not None and (
        not isinstance(names, list) or len(names) != 1 or not isinstance(names[0], str) or not names[0].strip()
    ):
        raise BadRequest("associationId.columnNames must be a list of exactly one column name.")
    required = change.get("requiredInPredictionRequests")
    if required is not None and not isinstance(required, bool):
        raise BadRequest("associationId.requiredInPredictionRequests must be true or false.")

    def mutate(document: dict[str, Any]) -> dict[str, Any]:
        entry = (document.get("deployments") or {}).get(deployment_id)
        if not isinstance(entry, dict):
            raise NotFound(f"Deployment {deployment_id} was not found.")
        current = dict(entry.get("associationId") or {})
        if names is not None:
            current["columnNames"] = [names[0]]
        if required is not None:
            current["requiredInPredictionRequests"] = required
        entry["associationId"] = current
        return current

    return update_registry(storage, mutate)


def _actual(item: Any, index: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise BadRequest(f"data[{index}] must be an object with associationId and actualValue.")
    association, value = item.get("associationId"), item.get("actualValue")
    if not isinstance(association, str | int) or isinstance(association, bool) or str(association) == "":
        raise BadRequest(f"data[{index}].associationId must be a non-empty string.")
    if value is None or isinstance(value, dict | list) or (isinstance(value, float) and not math.isfinite(value)):
        raise BadRequest(f"data[{index}].actualValue must be a number or a string.")
    row: dict[str, Any] = {"id": str(association)[:256], "v": value if not isinstance(value, str) else value[:256]}
    acted = item.get("wasActedOn")
    if acted is not None:
        if not isinstance(acted, bool):
            raise BadRequest(f"data[{index}].wasActedOn must be true or false.")
        row["acted"] = acted
    stamp = item.get("timestamp")
    if stamp is not None:
        try:
            row["ts"] = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).isoformat()
        except ValueError as exc:
            raise BadRequest(f"data[{index}].timestamp must be an RFC 3339 datetime.") from exc
    return row


def submit_actuals(storage: Storage, deployment_id: str, body: Any) -> int:
    """Validate every row first (all or nothing), then write them as one part."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not data:
        raise BadRequest('The body must be {"data": [{"associationId": ..., "actualValue": ...}, ...]}.')
    if len(data) > MAX_ACTUALS:
        raise BadRequest(f"At most {MAX_ACTUALS} actuals per request.")
    rows = [_actual(item, i) for i, item in enumerate(data)]
    now = time.time()
    for row in rows:
        row["t"] = now
    write_part(storage, deployment_id, "actuals", hour_of(datetime.now(UTC)), rows)
    return len(rows)
