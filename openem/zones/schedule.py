"""Weekly zone schedules (curfews) in a named IANA time zone, with approved absences.

Window times are wall-clock times in the schedule's time zone. A wall-clock time
that happens twice (clocks going back) means its first occurrence; one that never
happens (clocks going forward) means the instant the clocks go forward. Windows
and absences are half-open: active from their start, no longer active at their end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openem.errors import Invalid

Interval = tuple[datetime, datetime]


class ScheduleError(Invalid):
    """A schedule was refused; the message names the problem."""


class Weekday(IntEnum):
    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


EVERY_DAY = frozenset(Weekday)


@dataclass(frozen=True)
class Window:
    """Active from `start` on each of `days` until `end` (the next day when overnight)."""

    days: frozenset[int]
    start: time
    end: time
    overnight: bool = False

    def __post_init__(self) -> None:
        days = frozenset(self.days)
        if not days or not days <= set(range(7)):
            raise ScheduleError("window days must be a non-empty set of weekdays (0=Monday)")
        object.__setattr__(self, "days", frozenset(Weekday(d) for d in days))
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ScheduleError("window times are wall-clock times without a time zone")
        if self.end <= self.start and not self.overnight:
            raise ScheduleError("window ends at or before it starts: mark it overnight")
        if self.end > self.start and self.overnight:
            raise ScheduleError("overnight window must end at or before its start time")


@dataclass(frozen=True)
class Absence:
    """An approved absence: the schedule does not apply from `start` until `end`."""

    start: datetime
    end: datetime
    reference: str = ""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ScheduleError("absence start and end must carry a time zone")
        if self.end <= self.start:
            raise ScheduleError("absence must end after it starts")


@dataclass(frozen=True)
class Schedule:
    timezone: str
    windows: tuple[Window, ...]
    absences: tuple[Absence, ...] = ()
    _tz: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        try:
            tz = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ScheduleError("unknown time zone (expected an IANA name)") from None
        object.__setattr__(self, "_tz", tz)
        object.__setattr__(self, "windows", tuple(self.windows))
        object.__setattr__(self, "absences", tuple(self.absences))
        if not self.windows:
            raise ScheduleError("schedule needs at least one window")

    def is_active(self, at: datetime) -> bool:
        _require_aware(at, name="at")
        local_day = at.astimezone(self._tz).date()
        in_window = any(
            start <= at < end
            for start, end in self._occurrences(local_day - timedelta(days=1), local_day)
        )
        return in_window and not any(a.start <= at < a.end for a in self.absences)

    def active_intervals(self, start: datetime, end: datetime) -> list[Interval]:
        """Disjoint, sorted UTC intervals within [start, end) when the schedule applies."""
        _require_aware(start, name="start")
        _require_aware(end, name="end")
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return []
        first = start.astimezone(self._tz).date() - timedelta(days=1)
        last = end.astimezone(self._tz).date()
        clipped = [
            (max(s, start), min(e, end))
            for s, e in self._occurrences(first, last)
            if s < end and e > start
        ]
        intervals = _merge(clipped)
        for absence in sorted(self.absences, key=lambda a: a.start):
            intervals = _subtract(intervals, absence.start.astimezone(UTC),
                                  absence.end.astimezone(UTC))
        return intervals

    def to_dict(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "windows": [
                {
                    "days": sorted(int(d) for d in w.days),
                    "start": w.start.isoformat(),
                    "end": w.end.isoformat(),
                    "overnight": w.overnight,
                }
                for w in self.windows
            ],
            "absences": [
                {"start": a.start.isoformat(), "end": a.end.isoformat(), "reference": a.reference}
                for a in self.absences
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        try:
            windows = tuple(
                Window(
                    days=frozenset(w["days"]),
                    start=time.fromisoformat(w["start"]),
                    end=time.fromisoformat(w["end"]),
                    overnight=bool(w.get("overnight", False)),
                )
                for w in data["windows"]
            )
            absences = tuple(
                Absence(
                    start=datetime.fromisoformat(a["start"]),
                    end=datetime.fromisoformat(a["end"]),
                    reference=str(a.get("reference", "")),
                )
                for a in data.get("absences", ())
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScheduleError(f"malformed schedule: {type(exc).__name__}") from None
        return cls(timezone=data["timezone"], windows=windows, absences=absences)

    def _occurrences(self, first: date, last: date) -> list[Interval]:
        out: list[Interval] = []
        day = first
        while day <= last:
            for window in self.windows:
                if day.weekday() in window.days:
                    end_day = day + timedelta(days=1) if window.overnight else day
                    out.append(
                        (
                            wall_clock_instant(day=day, at=window.start, tz=self._tz),
                            wall_clock_instant(day=end_day, at=window.end, tz=self._tz),
                        )
                    )
            day += timedelta(days=1)
        return out


def wall_clock_instant(*, day: date, at: time, tz: ZoneInfo) -> datetime:
    """The first UTC instant at which the wall clock in `tz` shows `day` `at`."""
    naive = datetime.combine(day, at)
    before = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if before.astimezone(tz).replace(tzinfo=None) == naive:
        return before
    after = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = min(before, after), max(before, after)
    low_offset = low.astimezone(tz).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == low_offset:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def _require_aware(value: datetime, *, name: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ScheduleError(f"{name} must be a datetime with a time zone")


def _merge(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _subtract(intervals: list[Interval], start: datetime, end: datetime) -> list[Interval]:
    out: list[Interval] = []
    for s, e in intervals:
        if e <= start or s >= end:
            out.append((s, e))
            continue
        if s < start:
            out.append((s, start))
        if e > end:
            out.append((end, e))
    return out
