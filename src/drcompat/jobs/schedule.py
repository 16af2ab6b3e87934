"""Schedule expressions as EventBridge Scheduler writes them: ``rate(5 minutes)`` and
``cron(minutes hours day-of-month month day-of-week year)``; used locally to find due policies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from drcompat.errors import BadRequest

RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
CRON = re.compile(r"^cron\((.+)\)$")
UNITS = {"minute": 60, "hour": 3600, "day": 86400}
BOUNDS = [(0, 59), (0, 23), (1, 31), (1, 12), (1, 7), (1970, 2199)]  # day-of-week 1 = Sunday
NAMES = {
    "JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
    "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12,
    "SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7,
}  # fmt: skip


class ScheduleError(BadRequest):
    """The expression is not a valid rate() or cron()."""


@dataclass(frozen=True)
class Schedule:
    expression: str
    interval: timedelta | None = None
    fields: tuple[frozenset[int] | None, ...] = ()

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after ``moment`` (UTC, minute resolution)."""
        if self.interval is not None:
            return moment + self.interval
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(366 * 24 * 60):  # at most a year of minutes
            if self._matches(candidate):
                return candidate
            candidate += timedelta(minutes=1)
        raise ScheduleError(f"{self.expression} never fires within a year.")

    def _matches(self, moment: datetime) -> bool:
        weekday = (moment.isoweekday() % 7) + 1  # Sunday = 1 ... Saturday = 7
        values = (moment.minute, moment.hour, moment.day, moment.month, weekday, moment.year)
        return all(allowed is None or value in allowed for allowed, value in zip(self.fields, values, strict=True))

    def due(self, last_run: datetime | None, created: datetime, now: datetime) -> bool:
        return self.next_after(last_run or created) <= now


def parse_schedule(expression: str) -> Schedule:
    text = expression.strip()
    rate = RATE.match(text)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if count < 1:
            raise ScheduleError("A rate must be at least 1.")
        return Schedule(text, interval=timedelta(seconds=count * UNITS[unit]))
    cron = CRON.match(text)
    if not cron:
        raise ScheduleError(f"Schedule {expression[:60]!r} must be rate(N minutes|hours|days) or cron(6 fields).")
    parts = cron.group(1).split()
    if len(parts) != 6:
        raise ScheduleError("A cron expression has 6 fields: minutes hours day-of-month month day-of-week year.")
    fields = tuple(
        _field(part, low, high, index) for index, (part, (low, high)) in enumerate(zip(parts, BOUNDS, strict=True))
    )
    return Schedule(text, fields=fields)


def _field(part: str, low: int, high: int, index: int) -> frozenset[int] | None:
    if part in ("*", "?"):
        return None
    values: set[int] = set()
    for piece in part.upper().split(","):
        body, _, step_text = piece.partition("/")
        step = int(step_text) if step_text.isdigit() else 1
        if body == "*":
            start, stop = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, stop = _number(first, index), _number(last, index)
        else:
            start = _number(body, index)
            stop = high if step_text else start
        if not low <= start <= stop <= high or step < 1:
            raise ScheduleError(f"Cron field {part!r} is outside {low}-{high}.")
        values.update(range(start, stop + 1, step))
    return frozenset(values)


def _number(text: str, index: int) -> int:
    if text in NAMES and index in (3, 4):
        return NAMES[text]
    if not text.isdigit():
        raise ScheduleError(f"Cron value {text!r} is not a number.")
    return int(text)


def utcnow() -> datetime:
    return datetime.now(UTC)
