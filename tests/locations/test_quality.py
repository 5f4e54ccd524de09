"""GPS quality filter: which fixes are doubtful, and why."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openem.ingest.items import PositionItem
from openem.locations.quality import (
    Fix,
    QualityFlag,
    QualitySettings,
    check_fix,
    haversine_m,
    plausible,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
LONDON = Fix(ts=NOW - timedelta(minutes=1), lat=51.5007, lon=-0.1246, accuracy_m=10)


def fix(**changes: object) -> Fix:
    values = {"ts": NOW, "lat": 51.5033, "lon": -0.1196, "accuracy_m": 10.0}
    values.update(changes)
    return Fix(**values)  # type: ignore[arg-type]


def test_an_ordinary_fix_passes() -> None:
    verdict = check_fix(fix(), previous=LONDON, now=NOW)
    assert verdict.ok
    assert verdict.flags == frozenset()


def test_first_fix_without_previous_passes() -> None:
    assert check_fix(fix(), previous=None, now=NOW).ok


def test_fix_at_zero_zero_is_null_island() -> None:
    verdict = check_fix(fix(lat=0.0, lon=0.0), previous=None, now=NOW)
    assert verdict.flags == {QualityFlag.null_island}


def test_fix_on_the_equator_elsewhere_is_not_null_island() -> None:
    assert check_fix(fix(lat=0.0, lon=10.0), previous=None, now=NOW).ok


@pytest.mark.parametrize(
    ("lat", "lon"), [(91.0, 0.5), (-90.5, 0.5), (10.0, 180.5), (10.0, -181.0), (math.nan, 1.0)]
)
def test_coordinates_outside_wgs84_are_out_of_range(lat: float, lon: float) -> None:
    verdict = check_fix(fix(lat=lat, lon=lon), previous=LONDON, now=NOW)
    assert verdict.flags == {QualityFlag.out_of_range}


def test_accuracy_worse_than_500_m_is_poor() -> None:
    assert check_fix(fix(accuracy_m=500.0), previous=None, now=NOW).ok
    verdict = check_fix(fix(accuracy_m=501.0), previous=None, now=NOW)
    assert verdict.flags == {QualityFlag.poor_accuracy}


def test_accuracy_threshold_is_a_setting() -> None:
    strict = QualitySettings(max_accuracy_m=50)
    verdict = check_fix(fix(accuracy_m=80.0), previous=None, now=NOW, settings=strict)
    assert verdict.flags == {QualityFlag.poor_accuracy}


def test_missing_accuracy_is_not_flagged() -> None:
    assert check_fix(fix(accuracy_m=None), previous=None, now=NOW).ok


def test_jump_implying_more_than_300_kmh_is_flagged() -> None:
    # London to Paris (about 340 km) in one minute.
    paris = fix(lat=48.8583, lon=2.2945)
    verdict = check_fix(paris, previous=LONDON, now=NOW)
    assert verdict.flags == {QualityFlag.implied_speed}
    assert "km/h" in verdict.issues[0].reason
    assert "48.8" not in verdict.issues[0].reason


def test_fast_train_below_300_kmh_is_not_flagged() -> None:
    # About 4 km in one minute: 240 km/h.
    ahead = fix(lat=LONDON.lat + 0.036, lon=LONDON.lon, accuracy_m=5)
    assert check_fix(ahead, previous=LONDON, now=NOW).ok


def test_accuracy_radii_are_allowed_for_before_judging_speed() -> None:
    # 600 m apart, one second later, but both fixes claim 400 m accuracy.
    previous = Fix(ts=NOW - timedelta(seconds=1), lat=51.5, lon=-0.12, accuracy_m=400)
    jittery = fix(lat=51.5054, lon=-0.12, accuracy_m=400)
    assert QualityFlag.implied_speed not in check_fix(jittery, previous=previous, now=NOW).flags


def test_two_different_places_at_the_same_instant_are_flagged() -> None:
    previous = Fix(ts=NOW, lat=51.5, lon=-0.12, accuracy_m=5)
    elsewhere = fix(ts=NOW, lat=51.6, lon=-0.12, accuracy_m=5)
    verdict = check_fix(elsewhere, previous=previous, now=NOW)
    assert verdict.flags == {QualityFlag.implied_speed}


def test_same_place_at_the_same_instant_is_fine() -> None:
    same = Fix(ts=NOW, lat=51.5, lon=-0.12, accuracy_m=5)
    assert check_fix(same, previous=same, now=NOW).ok


def test_fix_from_the_future_is_time_skew() -> None:
    verdict = check_fix(fix(ts=NOW + timedelta(minutes=6)), previous=None, now=NOW)
    assert verdict.flags == {QualityFlag.time_skew}


def test_late_fix_within_a_week_is_not_time_skew() -> None:
    late = fix(ts=NOW - timedelta(days=2))
    assert check_fix(late, previous=None, now=NOW).ok


def test_fix_older_than_a_week_is_time_skew() -> None:
    verdict = check_fix(fix(ts=NOW - timedelta(days=8)), previous=None, now=NOW)
    assert verdict.flags == {QualityFlag.time_skew}


def test_several_problems_are_all_reported() -> None:
    verdict = check_fix(
        fix(lat=0.0, lon=0.0, accuracy_m=2000, ts=NOW + timedelta(hours=1)),
        previous=LONDON,
        now=NOW,
    )
    assert verdict.flags == {
        QualityFlag.null_island,
        QualityFlag.poor_accuracy,
        QualityFlag.time_skew,
        QualityFlag.implied_speed,
    }


def test_canonical_position_items_can_be_checked_directly() -> None:
    item = PositionItem(seq=1, ts=NOW, lat=51.5033, lon=-0.1196, accuracy_m=10)
    assert check_fix(item, previous=LONDON, now=NOW).ok


def test_haversine_matches_a_known_distance() -> None:
    # One degree of latitude is about 111.2 km.
    assert haversine_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(111_195, rel=1e-3)


@given(
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
    accuracy=st.floats(0, 500),
)
def test_property_valid_fixes_away_from_null_island_without_history_pass(
    lat: float, lon: float, accuracy: float
) -> None:
    verdict = check_fix(fix(lat=lat, lon=lon, accuracy_m=accuracy), previous=None, now=NOW)
    assert verdict.flags <= {QualityFlag.null_island}


_coordinate = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, 1e-7, 90.0])
_fixes = st.builds(
    Fix,
    ts=st.integers(-8 * 24 * 3600, 600).map(lambda s: NOW + timedelta(seconds=s)),
    lat=_coordinate | st.floats(51.49, 51.51),
    lon=_coordinate | st.floats(-0.13, -0.11),
    accuracy_m=st.none() | st.floats(0, 2_000) | st.just(math.nan),
)


@given(fix=_fixes, previous=st.none() | _fixes)
def test_plausible_agrees_with_check_fix_on_any_fix(fix: Fix, previous: Fix | None) -> None:
    expected = check_fix(fix, previous=previous, now=NOW).ok
    assert plausible(fix, previous=previous, now=NOW) is expected


@pytest.mark.parametrize("metres_per_second", [83.0, 300 / 3.6, 83.4, 84.0])
@pytest.mark.parametrize("along", ["meridian", "parallel", "diagonal"])
def test_plausible_agrees_with_check_fix_at_the_speed_limit(
    metres_per_second: float, along: str
) -> None:
    degrees = metres_per_second * 10 / 111_195  # ten seconds' travel
    step = {"meridian": (degrees, 0.0), "parallel": (0.0, degrees * 1.6),
            "diagonal": (degrees * 0.7, degrees * 1.1)}[along]
    previous = Fix(ts=NOW - timedelta(seconds=10), lat=51.5, lon=-0.12)
    candidate = Fix(ts=NOW, lat=51.5 + step[0], lon=-0.12 + step[1])
    expected = check_fix(candidate, previous=previous, now=NOW).ok
    assert plausible(candidate, previous=previous, now=NOW) is expected


def test_plausible_refuses_each_kind_of_doubtful_fix() -> None:
    assert plausible(fix(), previous=LONDON, now=NOW)
    doubtful = [
        (fix(lat=0.0, lon=0.0), None),
        (fix(lat=91.0), None),
        (fix(accuracy_m=501.0), None),
        (fix(ts=NOW + timedelta(minutes=6)), None),
        (fix(ts=NOW - timedelta(days=8)), None),
        (fix(lat=52.5), LONDON),
    ]
    for candidate, previous in doubtful:
        assert not plausible(candidate, previous=previous, now=NOW), candidate
