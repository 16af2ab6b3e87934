"""The custom-jobs records as DataRobot's official client reads them, and its request shapes
turned into ours: file items with ids, runtime parameter definitions, run records and statuses,
list-form runtime parameter values, and the ``{minute, hour, ...}`` schedule as a cron expression.
"""

from __future__ import annotations

import hashlib
from typing import Any

from drcompat.errors import BadRequest
from drcompat.jobs.metadata import JobMetadata

# Our run statuses -> the ones the client knows (JobRunStatus); timedOut is a failure there.
CLIENT_STATUS = {"queued": "running", "timedOut": "failed"}
TERMINAL = {"succeeded", "failed", "timedOut", "canceled", "interrupted"}
SCHEDULE_FIELDS = ("minute", "hour", "dayOfMonth", "month", "dayOfWeek")
BOUNDS = {"minute": (0, 59), "hour": (0, 23), "dayOfMonth": (1, 31), "month": (1, 12), "dayOfWeek": (0, 6)}


def item_id(job_id: str, path: str) -> str:
    """A file item's id: stable for a job's path, 24 hex digits like DataRobot's ids."""
    return hashlib.sha256(f"{job_id}/{path}".encode()).hexdigest()[:24]


def file_item(job_id: str, path: str, created: str) -> dict[str, Any]:
    return {
        "id": item_id(job_id, path),
        "fileName": path.rsplit("/", 1)[-1],
        "filePath": path,
        "fileSource": "local",
        "created": created,
    }


def runtime_parameters(metadata: JobMetadata | None, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's parameter definitions (metadata.yaml) with the job's values, as the client reads them."""
    if metadata is None:
        return []
    found = []
    for definition in metadata.parameters:
        record: dict[str, Any] = {
            "fieldName": definition.field_name,
            "type": definition.type,
            "description": definition.description,
            "allowEmpty": definition.allow_empty,
        }
        if definition.min_value is not None:
            record["minValue"] = definition.min_value
        if definition.max_value is not None:
            record["maxValue"] = definition.max_value
        if definition.credential_type is not None:
            record["credentialType"] = definition.credential_type
        if definition.default is not None:
            record["defaultValue"] = definition.default
        override = values.get(definition.field_name)
        if override is not None:
            record["overrideValue"] = override
        current = override if override is not None else definition.default
        if current is not None:
            record["currentValue"] = current
        found.append(record)
    return found


def values_mapping(values: Any, what: str = "runtimeParameterValues") -> dict[str, Any]:
    """Runtime parameter values as a mapping: the client sends ``[{fieldName, type, value}]``."""
    if values is None:
        return {}
    if isinstance(values, dict):
        return values
    if not isinstance(values, list):
        raise BadRequest(f"{what} must be a list of {{fieldName, type, value}} (or a mapping).")
    mapping: dict[str, Any] = {}
    for entry in values:
        if not isinstance(entry, dict) or not isinstance(entry.get("fieldName"), str):
            raise BadRequest(f"Each item of {what} needs a fieldName (and type, value).")
        mapping[entry["fieldName"]] = entry.get("value")
    return mapping


def client_run(record: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """A run record with the fields the client reads (customJobId, duration, items, its statuses)."""
    answer = dict(record)
    status = str(record.get("status", "running"))
    answer["status"] = CLIENT_STATUS.get(status, status)
    if status == "timedOut":
        answer["timedOut"] = True
    answer["customJobId"] = record.get("jobId")
    answer["duration"] = float(record.get("durationSeconds") or 0.0)
    answer.setdefault("description", "")
    answer["items"] = items
    return answer


def cron_from_schedule(schedule: Any) -> str:
    """DataRobot's schedule (lists per field, ``["*"]`` for every) as an EventBridge cron().

    DataRobot counts weekdays 0-6 from Sunday; EventBridge 1-7 from Sunday, and wants ``?`` in
    day-of-month or day-of-week when the other is given."""
    if not isinstance(schedule, dict):
        raise BadRequest("schedule must be an object with minute, hour, dayOfMonth, month and dayOfWeek.")
    parts = {}
    for field in SCHEDULE_FIELDS:
        values = schedule.get(field)
        if not isinstance(values, list) or not values:
            raise BadRequest(f"schedule.{field} must be a non-empty list (['*'] for every).")
        if any(v == "*" for v in values):
            parts[field] = "*"
            continue
        low, high = BOUNDS[field]
        numbers = []
        for value in values:
            number = int(value) if isinstance(value, str) and value.isdigit() else value
            if not isinstance(number, int) or isinstance(number, bool) or not low <= number <= high:
                raise BadRequest(f"schedule.{field}: {str(value)[:20]!r} is not '*' or a number {low}-{high}.")
            numbers.append(number + 1 if field == "dayOfWeek" else number)
        parts[field] = ",".join(str(n) for n in sorted(set(numbers)))
    day, weekday = parts["dayOfMonth"], parts["dayOfWeek"]
    if weekday == "*":
        weekday = "?"
    elif day == "*":
        day = "?"
    else:
        raise BadRequest("schedule: give dayOfMonth or dayOfWeek, not both (one of them must be ['*']).")
    return f"cron({parts['minute']} {parts['hour']} {day} {parts['month']} {weekday} *)"
