"""Prompt times: never more than the order's count or 5, inside the window, spaced,
reproducible from the stored seed."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from openem.checkins import schedule
from openem.checkins.schedule import MAX_PER_DAY, params_for, prompt_times, window_of

ORDER = uuid.UUID("00000000-0000-0000-0000-00000000abcd")
DAY = date(2026, 11, 28)


def _params(count: int, *, start: time = time(8), end: time = time(21), spacing: int = 90,
            response: int = 15, timezone: str = "Europe/London") -> schedule.ScheduleParams:
    return params_for(checkins_per_day=count, window_start=start, window_end=end,
                      timezone=timezone, spacing_minutes=spacing, response_minutes=response)


@pytest.mark.parametrize("count", range(0, 10))
def test_never_more_than_the_orders_count_or_five(count: int) -> None:
    for n in range(40):
        times = prompt_times(seed=f"{n:064x}", order_id=ORDER, day=DAY, params=_params(count))
        assert len(times) == min(count, MAX_PER_DAY)


def test_prompts_and_their_response_windows_lie_inside_the_waking_window_and_are_spaced() -> None:
    params = _params(5, start=time(9, 30), end=time(19), spacing=90, response=15)
    start, end = window_of(DAY, params)
    for _n in range(200):
        times = prompt_times(seed=schedule.new_seed(), order_id=ORDER, day=DAY, params=params)
        assert times == sorted(times)
        assert all(start <= t and t + timedelta(minutes=15) <= end for t in times)
        assert all(b - a >= timedelta(minutes=90) for a, b in itertools.pairwise(times))


def test_the_same_seed_order_and_day_give_the_same_times() -> None:
    seed = schedule.new_seed()
    params = _params(4)
    first = prompt_times(seed=seed, order_id=ORDER, day=DAY, params=params)
    assert prompt_times(seed=seed, order_id=ORDER, day=DAY, params=params) == first
    assert prompt_times(seed=seed, order_id=ORDER, day=DAY + timedelta(days=1),
                        params=params) != first
    assert prompt_times(seed=seed, order_id=uuid.uuid4(), day=DAY, params=params) != first


def test_a_window_too_short_for_the_spacing_gets_fewer_prompts_never_closer_ones() -> None:
    params = _params(5, start=time(10), end=time(13), spacing=90, response=15)
    times = prompt_times(seed=schedule.new_seed(), order_id=ORDER, day=DAY, params=params)
    assert len(times) == 2  # 165 usable minutes hold two prompts 90 minutes apart


def test_times_are_local_to_the_subject_across_a_clock_change() -> None:
    params = _params(5, start=time(8), end=time(21), timezone="Europe/London")
    change = date(2026, 10, 25)  # clocks go back: 08:00 local is 08:00 UTC, the day before 07:00
    start, _ = window_of(change, params)
    assert start.astimezone(ZoneInfo("Europe/London")).time() == time(8)
    times = prompt_times(seed=schedule.new_seed(), order_id=ORDER, day=change, params=params)
    for t in times:
        local = t.astimezone(ZoneInfo("Europe/London")).time()
        assert time(8) <= local <= time(20, 45)


def test_a_changed_order_changes_the_fingerprint() -> None:
    assert _params(3).fingerprint() == _params(3).fingerprint()
    assert _params(3).fingerprint() != _params(4).fingerprint()
    assert _params(3).fingerprint() != _params(3, start=time(9)).fingerprint()
