"""Query periods as DataRobot's client sends them: ``start``/``end`` (ISO 8601) and ``bucketSize``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from drcompat.errors import BadRequest

DEFAULT_DAYS = 7
MAX_BUCKETS = 1000
DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def as_json(self) -> dict[str, str]:
        return {"start": iso(self.start), "end": iso(self.end)}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as exc:
        raise BadRequest(f"{name} must be an ISO 8601 datetime, got {text[:40]!r}.") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_period(start: str | None, end: str | None, now: datetime | None = None) -> Period:
    """Default: the seven days up to the next full hour (what DataRobot shows by default)."""
    now = now or datetime.now(UTC)
    stop = parse_time(end, "end") if end else now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    begin = parse_time(start, "start") if start else stop - timedelta(days=DEFAULT_DAYS)
    if begin >= stop:
        raise BadRequest("start must be before end.")
    return Period(begin, stop)


def parse_bucket(size: str | None, period: Period) -> timedelta:
    """``bucketSize`` as an ISO 8601 duration of whole hours (PT1H, P1D, P7D, ...)."""
    if not size:
        return timedelta(hours=1) if period.end - period.start <= timedelta(days=2) else timedelta(days=1)
    match = DURATION.match(size.strip())
    if not match or not any(match.groups()):
        raise BadRequest(f"bucketSize must be an ISO 8601 duration such as PT1H or P1D, got {size[:40]!r}.")
    weeks, days, hours, minutes = (int(g or 0) for g in match.groups())
    bucket = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)
    if bucket < timedelta(hours=1) or bucket % timedelta(hours=1):
        raise BadRequest("bucketSize must be a whole number of hours (the data is kept per hour).")
    if (period.end - period.start) / bucket > MAX_BUCKETS:
        raise BadRequest(f"The period holds more than {MAX_BUCKETS} buckets of that size.")
    return bucket


def buckets(period: Period, size: timedelta) -> list[Period]:
    out = []
    start = period.start
    while start < period.end:
        out.append(Period(start, min(start + size, period.end)))
        start += size
    return out
