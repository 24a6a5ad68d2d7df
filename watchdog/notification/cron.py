"""A five-field cron matcher (minute hour day-of-month month day-of-week) for maintenance windows.

Small on purpose: `*`, numbers, lists (`1,15`), ranges (`1-5`) and steps (`*/15`, `0-30/10`).
Day-of-week 0 and 7 are Sunday. As in Vixie cron, when both day fields are restricted a
day matches if either does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = ("minute", "hour", "day of month", "month", "day of week")


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is `*`
    any_weekday: bool  # day of week is `*`

    def matches(self, at: datetime) -> bool:
        """Does the minute `at` (seconds ignored) match?"""
        if at.minute not in self.minutes or at.hour not in self.hours:
            return False
        return at.month in self.months and self._day_matches(at)

    def _day_matches(self, at: datetime) -> bool:
        day = at.day in self.days
        weekday = (at.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday

    def last_start(self, at: datetime, within: float) -> datetime | None:
        """The latest matching minute in (at - within, at], if any."""
        minute = at.replace(second=0, microsecond=0)
        earliest = at - timedelta(seconds=within)
        while minute > earliest:
            if self.matches(minute):
                return minute
            minute -= timedelta(minutes=1)
        return None


def parse_cron(text: str) -> Cron:
    """Parse `text`; raise ValueError naming the field that is wrong."""
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"cron expression {text!r} needs 5 fields "
                         "(minute hour day-of-month month day-of-week)")
    sets = [_field(f, lo, hi, name) for f, (lo, hi), name in zip(fields, _BOUNDS, _NAMES,
                                                                  strict=True)]
    weekdays = frozenset(7 % 7 if d == 7 else d for d in sets[4])
    return Cron(sets[0], sets[1], sets[2], sets[3], weekdays,
                any_day=fields[2] == "*", any_weekday=fields[4] == "*")


def _field(text: str, lo: int, hi: int, name: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        values |= _part(part, lo, hi, name)
    return frozenset(values)


def _part(part: str, lo: int, hi: int, name: str) -> set[int]:
    span, _, step_text = part.partition("/")
    step = _number(step_text, name) if step_text else 1
    if step < 1:
        raise ValueError(f"cron {name}: step must be at least 1 in {part!r}")
    if span == "*":
        first, last = lo, hi
    else:
        a, _, b = span.partition("-")
        first = _number(a, name)
        last = _number(b, name) if b else (hi if step_text else first)
    if not lo <= first <= last <= hi:
        raise ValueError(f"cron {name}: {part!r} is outside {lo}-{hi}")
    return set(range(first, last + 1, step))


def _number(text: str, name: str) -> int:
    if not text.isdigit():
        raise ValueError(f"cron {name}: {text!r} is not a number")
    return int(text)
