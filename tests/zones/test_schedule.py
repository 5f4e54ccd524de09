from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openem.zones.schedule import (
    EVERY_DAY,
    Absence,
    Schedule,
    ScheduleError,
    Weekday,
    Window,
)

LONDON = "Europe/London"
CURFEW = Window(days=EVERY_DAY, start=time(19), end=time(7), overnight=True)
SPRING_FORWARD = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
FALL_BACK = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def curfew(*absences: Absence) -> Schedule:
    return Schedule(timezone=LONDON, windows=(CURFEW,), absences=absences)


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ScheduleError, match="unknown time zone"):
        Schedule(timezone="Europe/Atlantis", windows=(CURFEW,))
    with pytest.raises(ScheduleError, match="unknown time zone"):
        Schedule(timezone="../etc/passwd", windows=(CURFEW,))


def test_window_ending_at_or_before_its_start_must_be_marked_overnight() -> None:
    with pytest.raises(ScheduleError, match="mark it overnight"):
        Window(days=EVERY_DAY, start=time(19), end=time(7))
    with pytest.raises(ScheduleError, match="mark it overnight"):
        Window(days=EVERY_DAY, start=time(19), end=time(19))
    with pytest.raises(ScheduleError, match="overnight window must end"):
        Window(days=EVERY_DAY, start=time(7), end=time(19), overnight=True)


def test_window_days_and_schedule_windows_are_required() -> None:
    with pytest.raises(ScheduleError, match="weekdays"):
        Window(days=frozenset(), start=time(7), end=time(19))
    with pytest.raises(ScheduleError, match="weekdays"):
        Window(days=frozenset({7}), start=time(7), end=time(19))
    with pytest.raises(ScheduleError, match="at least one window"):
        Schedule(timezone=LONDON, windows=())


def test_absence_must_be_aware_and_end_after_it_starts() -> None:
    with pytest.raises(ScheduleError, match="time zone"):
        Absence(start=datetime(2026, 1, 1), end=datetime(2026, 1, 2))
    with pytest.raises(ScheduleError, match="end after"):
        Absence(start=utc(2026, 1, 2), end=utc(2026, 1, 1))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ScheduleError, match="time zone"):
        curfew().is_active(datetime(2026, 1, 1, 22))


def test_curfew_active_across_spring_forward() -> None:
    schedule = curfew()
    assert not schedule.is_active(utc(2026, 3, 28, 18, 59, 59))
    assert schedule.is_active(utc(2026, 3, 28, 19, 0))
    assert schedule.is_active(SPRING_FORWARD - timedelta(seconds=1))
    assert schedule.is_active(SPRING_FORWARD)
    assert schedule.is_active(utc(2026, 3, 29, 5, 59, 59))
    assert not schedule.is_active(utc(2026, 3, 29, 6, 0))
    assert not schedule.is_active(utc(2026, 3, 29, 17, 59))
    assert schedule.is_active(utc(2026, 3, 29, 18, 0))
    night = schedule.active_intervals(utc(2026, 3, 28, 12), utc(2026, 3, 29, 12))
    assert night == [(utc(2026, 3, 28, 19), utc(2026, 3, 29, 6))]
    assert night[0][1] - night[0][0] == timedelta(hours=11)


def test_curfew_active_across_fall_back() -> None:
    schedule = curfew()
    assert not schedule.is_active(utc(2026, 10, 24, 17, 59))
    assert schedule.is_active(utc(2026, 10, 24, 18, 0))
    assert schedule.is_active(FALL_BACK)
    assert schedule.is_active(utc(2026, 10, 25, 6, 59, 59))
    assert not schedule.is_active(utc(2026, 10, 25, 7, 0))
    assert schedule.is_active(utc(2026, 10, 25, 19, 0))
    night = schedule.active_intervals(utc(2026, 10, 24, 12), utc(2026, 10, 25, 12))
    assert night == [(utc(2026, 10, 24, 18), utc(2026, 10, 25, 7))]
    assert night[0][1] - night[0][0] == timedelta(hours=13)


def test_window_starting_in_the_skipped_hour_starts_when_clocks_go_forward() -> None:
    schedule = Schedule(
        timezone=LONDON, windows=(Window(days=EVERY_DAY, start=time(1, 30), end=time(3)),)
    )
    assert schedule.active_intervals(utc(2026, 3, 29), utc(2026, 3, 30)) == [
        (SPRING_FORWARD, utc(2026, 3, 29, 2))
    ]
    assert not schedule.is_active(SPRING_FORWARD - timedelta(seconds=1))
    assert schedule.is_active(SPRING_FORWARD)


def test_window_starting_in_the_repeated_hour_starts_at_its_first_occurrence() -> None:
    schedule = Schedule(
        timezone=LONDON, windows=(Window(days=EVERY_DAY, start=time(1, 30), end=time(3)),)
    )
    assert schedule.active_intervals(utc(2026, 10, 25), utc(2026, 10, 26)) == [
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 3))
    ]


def test_weekday_windows_apply_only_on_their_days() -> None:
    weekdays = frozenset({Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY,
                          Weekday.THURSDAY, Weekday.FRIDAY})
    schedule = Schedule(
        timezone="America/New_York", windows=(Window(days=weekdays, start=time(9), end=time(17)),)
    )
    assert schedule.is_active(utc(2026, 6, 5, 14))
    assert not schedule.is_active(utc(2026, 6, 6, 14))
    assert not schedule.is_active(utc(2026, 6, 5, 12, 59))


def test_overnight_window_belongs_to_the_day_it_starts() -> None:
    friday_night = Window(days=frozenset({Weekday.FRIDAY}), start=time(22), end=time(6),
                          overnight=True)
    schedule = Schedule(timezone=LONDON, windows=(friday_night,))
    assert schedule.is_active(utc(2026, 1, 10, 3))
    assert not schedule.is_active(utc(2026, 1, 11, 3))
    assert not schedule.is_active(utc(2026, 1, 9, 3))


def test_approved_absence_suspends_the_curfew() -> None:
    absence = Absence(start=utc(2026, 1, 10, 20), end=utc(2026, 1, 10, 23), reference="A-17")
    schedule = curfew(absence)
    assert schedule.is_active(utc(2026, 1, 10, 19, 59))
    assert not schedule.is_active(utc(2026, 1, 10, 21))
    assert schedule.is_active(utc(2026, 1, 10, 23))
    assert schedule.active_intervals(utc(2026, 1, 10, 12), utc(2026, 1, 11, 12)) == [
        (utc(2026, 1, 10, 19), utc(2026, 1, 10, 20)),
        (utc(2026, 1, 10, 23), utc(2026, 1, 11, 7)),
    ]


def test_curfew_absence_across_dst_change() -> None:
    absence = Absence(start=utc(2026, 3, 28, 22), end=utc(2026, 3, 29, 2))
    schedule = curfew(absence)
    assert schedule.active_intervals(utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)) == [
        (utc(2026, 3, 28, 19), utc(2026, 3, 28, 22)),
        (utc(2026, 3, 29, 2), utc(2026, 3, 29, 6)),
    ]
    assert not schedule.is_active(SPRING_FORWARD)


def test_twenty_four_hour_overnight_window_covers_the_whole_day() -> None:
    always = Window(days=EVERY_DAY, start=time(0), end=time(0), overnight=True)
    schedule = Schedule(timezone=LONDON, windows=(always,))
    assert schedule.active_intervals(utc(2026, 3, 28), utc(2026, 3, 31)) == [
        (utc(2026, 3, 28), utc(2026, 3, 31))
    ]


def test_schedule_round_trips_through_a_dict() -> None:
    schedule = Schedule(
        timezone=LONDON,
        windows=(CURFEW, Window(days=frozenset({Weekday.SUNDAY}), start=time(10), end=time(12))),
        absences=(Absence(start=utc(2026, 1, 10, 20), end=utc(2026, 1, 10, 23), reference="A"),),
    )
    assert Schedule.from_dict(schedule.to_dict()) == schedule
    with pytest.raises(ScheduleError, match="malformed"):
        Schedule.from_dict({"timezone": LONDON, "windows": [{"days": [1]}]})


SCHEDULES = st.sampled_from(
    [
        curfew(),
        curfew(Absence(start=utc(2026, 3, 27, 21), end=utc(2026, 3, 28, 3))),
        Schedule(timezone="America/New_York", windows=(
            Window(days=frozenset({0, 2, 4}), start=time(1, 30), end=time(2, 30)),
            Window(days=frozenset({5, 6}), start=time(23), end=time(1, 15), overnight=True),
        )),
        Schedule(timezone="Australia/Lord_Howe", windows=(CURFEW,)),
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    schedule=SCHEDULES,
    offsets=st.lists(st.integers(min_value=0, max_value=60 * 86_400), min_size=1, max_size=30),
)
def test_active_intervals_agree_with_is_active(schedule: Schedule, offsets: list[int]) -> None:
    start = utc(2026, 3, 1)
    end = start + timedelta(days=61)
    intervals = schedule.active_intervals(start, end)
    assert all(a < b for a, b in intervals)
    assert all(intervals[i][1] < intervals[i + 1][0] for i in range(len(intervals) - 1))
    for offset in offsets:
        at = start + timedelta(seconds=offset)
        expected = any(a <= at < b for a, b in intervals)
        assert schedule.is_active(at) == expected
