"""Monitoring records in the bucket, partitioned by deployment, kind and hour.

    monitoring/<deploymentId>/<kind>/date=YYYY-MM-DD/hour=HH/<part>.jsonl

``kind`` is ``aggregates`` (per model and hour: counts, latency histograms, input and prediction
histograms), ``associations`` (association id, prediction, time) or ``actuals``. A query lists one
prefix per day of its period and reads only the hours inside it, so its cost follows the period,
not all traffic ever. Compaction folds an hour's parts into one ``compacted-*.jsonl`` that names
the parts it covers; readers then skip those parts (nothing is deleted, so a compaction racing a
flush or another compaction can never lose or double-count a record).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from drcompat.storage import Storage, StorageKeyError

ROOT = "monitoring"
KINDS = ("aggregates", "associations", "actuals")
COMPACTED = "compacted-"


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_prefix(deployment_id: str, kind: str, hour: datetime) -> str:
    return f"{ROOT}/{deployment_id}/{kind}/date={hour:%Y-%m-%d}/hour={hour:%H}/"


def write_part(storage: Storage, deployment_id: str, kind: str, hour: datetime, rows: list[dict[str, Any]]) -> str:
    """One new object per flush: writers never contend, every part is immutable."""
    name = f"{int(time.time() * 1000):013d}-{secrets.token_hex(4)}.jsonl"
    key = hour_prefix(deployment_id, kind, hour) + name
    storage.write(key, b"\n".join(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY) for r in rows) + b"\n")
    return key


def hours_between(start: datetime, end: datetime) -> Iterator[datetime]:
    hour = hour_of(start)
    while hour < end:
        yield hour
        hour += timedelta(hours=1)


def _parse(data: bytes) -> list[dict[str, Any]]:
    rows = []
    for line in data.splitlines():
        if line.strip():
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue  # a torn line never breaks a query
    return rows


def live_parts(keys: list[str]) -> list[str]:
    """The parts a reader should read: compacted files plus the parts none of them covers."""
    compacted = [k for k in keys if k.rsplit("/", 1)[-1].startswith(COMPACTED)]
    return compacted + [k for k in keys if k not in compacted]


def read_hour(storage: Storage, prefix: str, keys: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    covered: set[str] = set()
    for key in live_parts(keys):
        name = key.rsplit("/", 1)[-1]
        if name in covered:
            continue
        try:
            parsed = _parse(storage.read(key))
        except StorageKeyError:
            continue
        if name.startswith(COMPACTED) and parsed and "covers" in parsed[0]:
            if set(parsed[0]["covers"]) & covered:
                continue  # a newer compaction of the same parts already counted them
            covered.update(parsed[0]["covers"])
            parsed = parsed[1:]
        rows.extend(parsed)
    return rows


def list_hours(storage: Storage, deployment_id: str, kind: str, start: datetime, end: datetime) -> dict[str, list[str]]:
    """Keys per hour prefix within [start, end): one listing per day of the period."""
    found: dict[str, list[str]] = {}
    wanted = {hour_prefix(deployment_id, kind, h) for h in hours_between(start, end)}
    days = sorted({p.rsplit("/hour=", 1)[0] + "/" for p in wanted})
    for day in days:
        for key in storage.list(day):
            prefix = key.rsplit("/", 1)[0] + "/"
            if prefix in wanted and key.endswith(".jsonl"):
                found.setdefault(prefix, []).append(key)
    return found


def read_rows(
    storage: Storage, deployment_id: str, kind: str, start: datetime, end: datetime
) -> Iterator[dict[str, Any]]:
    for prefix, keys in sorted(list_hours(storage, deployment_id, kind, start, end).items()):
        yield from read_hour(storage, prefix, sorted(keys, reverse=True))


def merge(into: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """Add one aggregate row into another: numbers add, histograms add bin by bin, sets unite."""
    for key, value in row.items():
        if key in ("hour", "modelId"):
            into[key] = value
        elif key in ("first", "last"):
            into[key] = value if key not in into else (min if key == "first" else max)(into[key], value)
        elif key == "consumers":
            into[key] = sorted(set(into.get(key, [])) | set(value))
        elif isinstance(value, dict):
            into[key] = merge(dict(into.get(key) or {}), value)
        elif isinstance(value, list):
            current = into.get(key)
            if isinstance(current, list) and len(current) == len(value):
                into[key] = [a + b for a, b in zip(current, value, strict=True)]
            elif current is None:
                into[key] = list(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            into[key] = into.get(key, 0) + value
    return into


def compact_hour(storage: Storage, deployment_id: str, kind: str, hour: datetime) -> int:
    """Fold an hour's uncompacted parts into one object; returns the parts folded."""
    prefix = hour_prefix(deployment_id, kind, hour)
    keys = [k for k in storage.list(prefix) if k.endswith(".jsonl")]
    parts = [k.rsplit("/", 1)[-1] for k in keys]
    compacted = sorted((p for p in parts if p.startswith(COMPACTED)), reverse=True)
    covered: set[str] = set()
    if compacted:
        head = _parse(storage.read(prefix + compacted[0]).split(b"\n", 1)[0])
        covered = set(head[0].get("covers", [])) | {compacted[0]} if head else set()
    fresh = [p for p in parts if p not in covered]
    if not fresh or (len(fresh) < 2 and not compacted):
        return 0
    rows = read_hour(storage, prefix, sorted(keys, reverse=True))
    if kind == "aggregates":
        by_model: dict[Any, dict[str, Any]] = {}
        for row in rows:
            merge(by_model.setdefault(row.get("modelId"), {}), row)
        rows = list(by_model.values())
    covers = sorted(set(parts))
    name = f"{COMPACTED}{int(time.time() * 1000):013d}-{secrets.token_hex(4)}.jsonl"
    body = [orjson.dumps({"covers": covers}), *(orjson.dumps(r) for r in rows)]
    storage.write(prefix + name, b"\n".join(body) + b"\n")
    return len(fresh)


def compact_recent(storage: Storage, deployment_ids: Iterable[str], now: datetime, hours: int = 48) -> int:
    """Compact the finished hours of the last ``hours`` (what the job runner's schedule calls)."""
    folded = 0
    current = hour_of(now)
    for deployment_id in deployment_ids:
        for kind in KINDS:
            found = list_hours(storage, deployment_id, kind, current - timedelta(hours=hours), current)
            for prefix in found:
                hour = datetime.strptime(prefix.split("/date=")[1], "%Y-%m-%d/hour=%H/").replace(tzinfo=UTC)
                folded += compact_hour(storage, deployment_id, kind, hour)
    return folded
