from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, time, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from openem.zones.geometry import (
    Circle,
    Classification,
    LocalProjection,
    Polygon,
    ZoneGeometryError,
    ZoneShape,
    classify,
)
from openem.zones.index import ZoneAssignment, ZoneIndex, ZoneKind
from openem.zones.schedule import EVERY_DAY, Absence, Schedule, Window

CURFEW = Schedule(
    timezone="Europe/London",
    windows=(Window(days=EVERY_DAY, start=time(19), end=time(7), overnight=True),),
)
DAYTIME = Schedule(
    timezone="America/Chicago",
    windows=(Window(days=frozenset({0, 1, 2, 3, 4}), start=time(8), end=time(18)),),
    absences=(Absence(start=datetime(2026, 3, 9, 15, tzinfo=UTC),
                      end=datetime(2026, 3, 10, 2, tzinfo=UTC)),),
)
START = datetime(2026, 3, 7, tzinfo=UTC)


def star_polygon(
    *, centre: tuple[float, float], radius_m: float, radii: list[float], hole: bool
) -> Polygon:
    projection = LocalProjection(origin_lat=centre[0], origin_lon=centre[1])
    rings = []
    for scale, fractions in ((1.0, radii), (0.2, [1.0] * 5)):
        count = len(fractions)
        angles = np.arange(count) * 2 * math.pi / count
        lengths = radius_m * scale * np.array(fractions)
        lats, lons = projection.inverse(xs=lengths * np.sin(angles), ys=lengths * np.cos(angles))
        ring = [(float(lo), float(la)) for lo, la in zip(lons, lats, strict=True)]
        rings.append((*ring, ring[0]))
        if not hole:
            break
    return Polygon(rings=tuple(rings))


@st.composite
def zones_and_fixes(draw: st.DrawFn) -> tuple[list[ZoneAssignment], dict[str, list]]:
    centre = (draw(st.floats(-60.0, 60.0)), draw(st.floats(-170.0, 170.0)))
    projection = LocalProjection(origin_lat=centre[0], origin_lon=centre[1])
    zones: list[ZoneAssignment] = []
    for subject in range(draw(st.integers(1, 4))):
        for number in range(draw(st.integers(1, 3))):
            east, north = draw(st.floats(-3_000, 3_000)), draw(st.floats(-3_000, 3_000))
            lats, lons = projection.inverse(xs=np.array([east]), ys=np.array([north]))
            zone_centre = (float(lats[0]), float(lons[0]))
            radius = draw(st.floats(5.0, 2_000.0))
            shape: ZoneShape
            if draw(st.booleans()):
                shape = Circle(lat=zone_centre[0], lon=zone_centre[1], radius_m=radius)
            else:
                radii = draw(st.lists(st.floats(0.6, 1.0), min_size=3, max_size=12))
                shape = star_polygon(centre=zone_centre, radius_m=radius, radii=radii,
                                     hole=draw(st.booleans()))
            zones.append(ZoneAssignment(
                subject_id=subject, zone_id=f"z{subject}-{number}",
                kind=draw(st.sampled_from(list(ZoneKind))), shape=shape,
                schedule=draw(st.sampled_from([None, CURFEW, DAYTIME])),
            ))
    count = draw(st.integers(1, 60))
    fixes: dict[str, list] = {"subject_ids": [], "times": [], "lats": [], "lons": [],
                              "accuracies": []}
    for _ in range(count):
        target = draw(st.sampled_from(zones)).shape.projection
        east, north = draw(st.floats(-2_500, 2_500)), draw(st.floats(-2_500, 2_500))
        lats, lons = target.inverse(xs=np.array([east]), ys=np.array([north]))
        fixes["subject_ids"].append(draw(st.integers(0, 4)))
        fixes["times"].append(START + timedelta(seconds=draw(st.integers(0, 5 * 86_400))))
        fixes["lats"].append(float(lats[0]))
        fixes["lons"].append(float(lons[0]))
        fixes["accuracies"].append(draw(st.sampled_from([0.0, 3.0, 25.0, 150.0, 900.0])))
    return zones, fixes


def near_a_tie(shape: ZoneShape, *, lat: float, lon: float, accuracy: float) -> bool:
    xs, ys = shape.projection.forward(lats=np.array([lat]), lons=np.array([lon]))
    if isinstance(shape, Circle):
        distance = math.hypot(xs[0], ys[0])
        return min(abs(distance + accuracy - shape.radius_m),
                   abs(distance - accuracy - shape.radius_m)) < 1e-6
    boundary = shape.projected_shape().boundary.distance(Point(xs[0], ys[0]))
    return abs(boundary - accuracy) < 1e-6 or boundary < 1e-6


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=zones_and_fixes())
def test_index_matches_the_shapely_reference(
    case: tuple[list[ZoneAssignment], dict[str, list]],
) -> None:
    zones, fixes = case
    index = ZoneIndex(zones=zones)
    evaluation = index.evaluate(**fixes)
    rows = list(index.rows(evaluation=evaluation))
    expected_rows: Counter[tuple[int, object]] = Counter()
    for position, subject in enumerate(fixes["subject_ids"]):
        for zone in zones:
            if zone.subject_id == subject:
                expected_rows[(position, zone.zone_id)] += 1
    assert Counter((row.fix_index, row.zone_id) for row in rows) == expected_rows
    by_id = {zone.zone_id: zone for zone in zones}
    for row in rows:
        zone = by_id[row.zone_id]
        lat, lon = fixes["lats"][row.fix_index], fixes["lons"][row.fix_index]
        accuracy = fixes["accuracies"][row.fix_index]
        at = fixes["times"][row.fix_index]
        assert row.kind == zone.kind and row.subject_id == zone.subject_id
        assert row.active == (zone.schedule is None or zone.schedule.is_active(at))
        if not near_a_tie(zone.shape, lat=lat, lon=lon, accuracy=accuracy):
            assert row.classification == classify(shape=zone.shape, lat=lat, lon=lon,
                                                  accuracy_m=accuracy)


def home_zones() -> list[ZoneAssignment]:
    return [
        ZoneAssignment(subject_id="subject-a", zone_id="home", kind=ZoneKind.INCLUSION,
                       shape=Circle(lat=51.5, lon=-0.1, radius_m=200.0), schedule=CURFEW),
        ZoneAssignment(subject_id="subject-a", zone_id="park", kind=ZoneKind.EXCLUSION,
                       shape=Circle(lat=51.52, lon=-0.1, radius_m=300.0)),
        ZoneAssignment(subject_id="subject-b", zone_id="home", kind=ZoneKind.INCLUSION,
                       shape=Circle(lat=51.4, lon=-0.2, radius_m=150.0), schedule=CURFEW),
    ]


def test_zone_without_a_schedule_is_always_active() -> None:
    index = ZoneIndex(zones=home_zones())
    times = [datetime(2026, 3, 29, hour, tzinfo=UTC) for hour in range(24)]
    evaluation = index.evaluate(subject_ids=["subject-a"] * 24, times=times, lats=[51.5] * 24,
                                lons=[-0.1] * 24, accuracies=[5.0] * 24)
    rows = list(index.rows(evaluation=evaluation))
    assert all(row.active for row in rows if row.zone_id == "park")
    curfew = [row.active for row in rows if row.zone_id == "home"]
    assert curfew == [hour < 6 or hour >= 18 for hour in range(24)]


def test_fix_of_a_subject_without_zones_yields_no_rows() -> None:
    index = ZoneIndex(zones=home_zones())
    evaluation = index.evaluate(subject_ids=["subject-z", "subject-b"],
                                times=[START, START], lats=[51.4, 51.4], lons=[-0.2, -0.2],
                                accuracies=[5.0, 5.0])
    rows = list(index.rows(evaluation=evaluation))
    assert [(row.fix_index, row.zone_id, row.classification) for row in rows] == [
        (1, "home", Classification.INSIDE)
    ]


def test_fix_times_may_be_datetimes_datetime64_or_epoch_seconds() -> None:
    index = ZoneIndex(zones=home_zones())
    at = datetime(2026, 3, 28, 20, 30, tzinfo=UTC)
    forms: list[list[datetime] | np.ndarray] = [
        [at],
        np.array(["2026-03-28T20:30"], dtype="datetime64[s]"),
        np.array([at.timestamp()]),
    ]
    for times in forms:
        evaluation = index.evaluate(subject_ids=["subject-b"], times=times, lats=[51.4],
                                    lons=[-0.2], accuracies=[5.0])
        assert evaluation.active.tolist() == [True]


def test_integer_subject_ids_use_the_vectorised_lookup() -> None:
    zones = [ZoneAssignment(subject_id=s, zone_id=s, kind=ZoneKind.INCLUSION,
                            shape=Circle(lat=10.0, lon=float(s), radius_m=1_000.0))
             for s in (7, 3, 11)]
    index = ZoneIndex(zones=zones)
    evaluation = index.evaluate(subject_ids=np.array([11, 4, 3, 7]), times=[START] * 4,
                                lats=[10.0] * 4, lons=[11.0, 4.0, 3.0, 3.0],
                                accuracies=[0.0] * 4)
    rows = [(r.fix_index, r.zone_id, r.classification) for r in index.rows(evaluation=evaluation)]
    assert rows == [(0, 11, Classification.INSIDE), (2, 3, Classification.INSIDE),
                    (3, 7, Classification.OUTSIDE)]


def test_batches_weeks_apart_rebuild_the_schedule_horizon() -> None:
    index = ZoneIndex(zones=home_zones())
    for at in (datetime(2026, 1, 5, 22, tzinfo=UTC), datetime(2026, 8, 5, 12, tzinfo=UTC),
               datetime(2026, 1, 6, 12, tzinfo=UTC), datetime(2026, 8, 5, 22, tzinfo=UTC)):
        evaluation = index.evaluate(subject_ids=["subject-b"], times=[at], lats=[51.4],
                                    lons=[-0.2], accuracies=[5.0])
        assert evaluation.active.tolist() == [CURFEW.is_active(at)]


def test_out_of_range_or_inaccurate_fixes_are_refused_without_coordinates() -> None:
    index = ZoneIndex(zones=home_zones())
    for lat, lon, accuracy in ((95.5, 0.0, 1.0), (51.0, math.nan, 1.0), (51.0, 0.0, -3.0)):
        with pytest.raises(ZoneGeometryError) as caught:
            index.evaluate(subject_ids=["subject-a"], times=[START], lats=[lat], lons=[lon],
                           accuracies=[accuracy])
        assert "95.5" not in str(caught.value)


def test_empty_index_and_empty_batch() -> None:
    assert len(ZoneIndex(zones=[]).evaluate(subject_ids=[1], times=[START], lats=[0.0],
                                            lons=[0.0], accuracies=[1.0])) == 0
    assert len(ZoneIndex(zones=home_zones()).evaluate(subject_ids=[], times=[], lats=[],
                                                      lons=[], accuracies=[])) == 0
