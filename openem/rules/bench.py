"""The `rules` benchmark: zone evaluation throughput of the index, and PostGIS for scale.

Generates subjects with 1-5 zones each around a city (circles and polygons, half
with curfew-style schedules), random fixes near and away from those zones, and
measures positions per second through `ZoneIndex.evaluate` on one core, schedule
and accuracy handling included. Given a PostgreSQL URL it loads the same zones
(circles as 64-gons) and points into temporary PostGIS tables with GiST indexes
and times the same point-to-own-zones check as one `ST_Covers` join.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from datetime import time as wall
from typing import Any, cast

import numpy as np

from openem.zones.geometry import Circle, Polygon, ZoneShape, circle_as_polygon
from openem.zones.index import ZoneAssignment, ZoneIndex, ZoneKind
from openem.zones.schedule import EVERY_DAY, Absence, Schedule, Window

CITY_LAT, CITY_LON = 51.5074, -0.1278
METRES_PER_DEG_LAT = 111_200.0
BATCH = 50_000
BATCHES = 4
WEEK_START = datetime(2026, 3, 26, tzinfo=UTC)
WEEKDAYS = frozenset(range(5))
WEEKEND = frozenset({5, 6})
PLANS = (
    ("hash join on subject", "SET enable_nestloop = off"),
    ("planner's choice", "RESET enable_nestloop"),
)
TEMPLATES = (
    (Window(days=EVERY_DAY, start=wall(19), end=wall(7), overnight=True),),
    (
        Window(days=WEEKDAYS, start=wall(21), end=wall(6), overnight=True),
        Window(days=WEEKEND, start=wall(23), end=wall(8), overnight=True),
    ),
    (Window(days=WEEKDAYS, start=wall(8), end=wall(18)),),
)


def run_rules_bench(
    *, database_url: str | None, seconds: float, subjects: int = 10_000, seed: int = 0
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    zones = generate_zones(rng=rng, subjects=subjects)
    fixes = generate_fixes(rng=rng, zones=zones, count=BATCH * BATCHES, subjects=subjects)
    budget = max(seconds, 1.0) / (2.0 if database_url else 1.0)
    with _one_core() as cpu:
        started = time.perf_counter()
        index = ZoneIndex(zones=zones)
        index.evaluate(**{k: v[:BATCH] for k, v in fixes.items()})
        build_s = time.perf_counter() - started
        rates, pairs = _measure_index(index=index, fixes=fixes, budget_s=budget)
    positions = statistics.median(rates)
    figures: dict[str, float] = {
        "positions_per_s_per_core": round(positions),
        "zone_checks_per_position": round(pairs / (BATCH * BATCHES), 3),
        "index_build_s": round(build_s, 3),
        "zones": len(zones),
    }
    targets: dict[str, dict[str, Any]] = {
        "positions_per_s_per_core": {
            "target": 100_000, "op": ">=", "met": positions >= 100_000
        },
    }
    machine = _machine(cpu=cpu)
    if database_url:
        postgis = _measure_postgis(
            database_url=database_url, zones=zones, fixes=fixes, budget_s=budget
        )
        machine["postgis"] = postgis.pop("version")
        machine["postgis_plan"] = postgis.pop("plan")
        inside_index = _inside_pairs_without_accuracy(index=index, fixes=fixes)
        figures["postgis_points_per_s"] = round(postgis["points_per_s"])
        figures["ratio_vs_postgis"] = round(positions / postgis["points_per_s"], 2)
        figures["inside_pairs_agreement"] = round(
            min(inside_index, postgis["inside_pairs"])
            / max(inside_index, postgis["inside_pairs"], 1), 5
        )
        targets["ratio_vs_postgis"] = {
            "target": 1.0, "op": ">=", "met": figures["ratio_vs_postgis"] >= 1.0
        }
    return {"name": "rules", "machine": machine, "figures": figures, "targets": targets}


def generate_zones(*, rng: np.random.Generator, subjects: int) -> list[ZoneAssignment]:
    zones: list[ZoneAssignment] = []
    for subject in range(subjects):
        home = _around(rng=rng, lat=CITY_LAT, lon=CITY_LON, sigma_m=8_000.0)
        for number in range(int(rng.integers(1, 6))):
            centre = home if number == 0 else _around(
                rng=rng, lat=CITY_LAT, lon=CITY_LON, sigma_m=10_000.0
            )
            radius = float(rng.uniform(80.0, 400.0) if number == 0 else rng.uniform(150, 2_500))
            shape: ZoneShape
            if rng.random() < 0.5:
                shape = Circle(lat=centre[0], lon=centre[1], radius_m=radius)
            else:
                shape = _random_polygon(rng=rng, centre=centre, radius_m=radius)
            zones.append(
                ZoneAssignment(
                    subject_id=subject,
                    zone_id=subject * 10 + number,
                    kind=ZoneKind.INCLUSION if number == 0 else ZoneKind.EXCLUSION,
                    shape=shape,
                    schedule=_random_schedule(rng=rng) if rng.random() < 0.5 else None,
                )
            )
    return zones


def generate_fixes(
    *, rng: np.random.Generator, zones: list[ZoneAssignment], count: int, subjects: int
) -> dict[str, np.ndarray[Any, Any]]:
    first = np.zeros(subjects + 1, dtype=np.int64)
    np.add.at(first, np.array([cast(int, z.subject_id) for z in zones]) + 1, 1)
    owned = first[1:].copy()
    first = np.cumsum(first)[:-1]
    centre_lat = np.array([_centre(z.shape)[0] for z in zones])
    centre_lon = np.array([_centre(z.shape)[1] for z in zones])
    spread = np.array([_nominal_radius(z.shape) * 1.2 for z in zones])
    subject_ids = rng.integers(0, subjects, count)
    chosen = first[subject_ids] + (rng.random(count) * owned[subject_ids]).astype(np.int64)
    near = rng.random(count) < 0.6
    sigma = np.where(near, spread[chosen], 12_000.0)
    lats, lons = _offset(
        lat=np.where(near, centre_lat[chosen], CITY_LAT),
        lon=np.where(near, centre_lon[chosen], CITY_LON),
        east_m=rng.normal(0.0, 1.0, count) * sigma,
        north_m=rng.normal(0.0, 1.0, count) * sigma,
    )
    accuracies = np.clip(np.exp(rng.normal(2.5, 0.8, count)), 2.0, 500.0)
    seconds = rng.uniform(0.0, 7 * 86_400.0, count)
    times = np.datetime64(WEEK_START.replace(tzinfo=None), "us") + (seconds * 1e6).astype(
        "timedelta64[us]"
    )
    return {"subject_ids": subject_ids, "times": times, "lats": lats, "lons": lons,
            "accuracies": accuracies}


def _measure_index(
    *, index: ZoneIndex, fixes: dict[str, np.ndarray[Any, Any]], budget_s: float
) -> tuple[list[float], int]:
    batches = [{k: v[i * BATCH:(i + 1) * BATCH] for k, v in fixes.items()} for i in range(BATCHES)]
    pairs = sum(len(index.evaluate(**batch)) for batch in batches)
    rates: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(rates) < 5 or time.perf_counter() < deadline:
        batch = batches[len(rates) % BATCHES]
        started = time.perf_counter()
        index.evaluate(**batch)
        rates.append(BATCH / (time.perf_counter() - started))
        if len(rates) >= 200:
            break
    return rates, pairs


def _inside_pairs_without_accuracy(
    *, index: ZoneIndex, fixes: dict[str, np.ndarray[Any, Any]]
) -> int:
    evaluation = index.evaluate(**{**fixes, "accuracies": np.zeros(len(fixes["lats"]))})
    return int((evaluation.classification == 1).sum())


def _measure_postgis(
    *, database_url: str, zones: list[ZoneAssignment], fixes: dict[str, np.ndarray[Any, Any]],
    budget_s: float,
) -> dict[str, Any]:
    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SELECT postgis_lib_version()").fetchone()
        conn.execute("SET max_parallel_workers_per_gather = 0")
        conn.execute("SET jit = off")
        conn.execute(
            "CREATE TEMP TABLE bench_zone"
            " (subject_id int, zone_id int, geom geometry(Polygon, 4326))"
        )
        conn.execute(
            "CREATE TEMP TABLE bench_fix (fix_id int, subject_id int, geom geometry(Point, 4326))"
        )
        cursor = conn.cursor()
        with cursor.copy("COPY bench_zone (subject_id, zone_id, geom) FROM STDIN") as copy:
            for zone in zones:
                copy.write_row((zone.subject_id, zone.zone_id, _ewkt(zone.shape)))
        with cursor.copy("COPY bench_fix (fix_id, subject_id, geom) FROM STDIN") as copy:
            for i, (subject, lat, lon) in enumerate(
                zip(fixes["subject_ids"].tolist(), fixes["lats"].tolist(), fixes["lons"].tolist(),
                    strict=True)
            ):
                copy.write_row((i, subject, f"SRID=4326;POINT({lon!r} {lat!r})"))
        conn.execute("CREATE INDEX ON bench_zone USING gist (geom)")
        conn.execute("CREATE INDEX ON bench_zone (subject_id)")
        conn.execute("CREATE INDEX ON bench_fix USING gist (geom)")
        conn.execute("ANALYZE bench_zone")
        conn.execute("ANALYZE bench_fix")
        query = (
            "SELECT count(*) FROM bench_fix f JOIN bench_zone z"
            " ON z.subject_id = f.subject_id AND ST_Covers(z.geom, f.geom)"
        )
        inside = 0
        best: tuple[float, str] = (float("inf"), "")
        for plan, setting in PLANS:
            conn.execute(setting)
            if best[1]:
                conn.execute(f"SET statement_timeout = {max(1_000, int(best[0] * 3_000))}")
            timings: list[float] = []
            deadline = time.perf_counter() + budget_s / len(PLANS)
            try:
                while len(timings) < 4 or (time.perf_counter() < deadline and len(timings) < 15):
                    started = time.perf_counter()
                    row = conn.execute(query).fetchone()
                    timings.append(time.perf_counter() - started)
                    inside = int(row[0]) if row else 0
            except psycopg.errors.QueryCanceled:
                continue
            best = min(best, (statistics.median(timings[1:]), plan))
        conn.execute("RESET statement_timeout")
        conn.execute("RESET enable_nestloop")
        conn.execute("DROP TABLE bench_zone")
        conn.execute("DROP TABLE bench_fix")
    return {
        "points_per_s": len(fixes["lats"]) / best[0],
        "plan": best[1],
        "inside_pairs": inside,
        "version": version[0] if version else None,
    }


def _ewkt(shape: ZoneShape) -> str:
    polygon = circle_as_polygon(shape, segments=64) if isinstance(shape, Circle) else shape
    rings = ",".join(
        "(" + ",".join(f"{lon!r} {lat!r}" for lon, lat in ring) + ")" for ring in polygon.rings
    )
    return f"SRID=4326;POLYGON({rings})"


def _random_polygon(
    *, rng: np.random.Generator, centre: tuple[float, float], radius_m: float
) -> Polygon:
    rings = []
    for scale, vertices in ((1.0, int(rng.integers(6, 25))), (0.25, 6)):
        angles = (np.arange(vertices) + rng.uniform(0.0, 0.8, vertices)) * 2 * np.pi / vertices
        radii = radius_m * scale * rng.uniform(0.55, 1.0, vertices)
        lats, lons = _offset(
            lat=np.full(vertices, centre[0]), lon=np.full(vertices, centre[1]),
            east_m=radii * np.sin(angles), north_m=radii * np.cos(angles),
        )
        ring = [(float(lo), float(la)) for lo, la in zip(lons, lats, strict=True)]
        rings.append((*ring, ring[0]))
        if rng.random() > 0.1:
            break
    return Polygon(rings=tuple(rings))


def _random_schedule(*, rng: np.random.Generator) -> Schedule:
    windows = TEMPLATES[int(rng.integers(0, len(TEMPLATES)))]
    absences: tuple[Absence, ...] = ()
    if rng.random() < 0.2:
        start = WEEK_START.timestamp() + float(rng.uniform(0, 6 * 86_400))
        absences = (
            Absence(
                start=datetime.fromtimestamp(round(start), tz=UTC),
                end=datetime.fromtimestamp(round(start + rng.uniform(3_600, 86_400)), tz=UTC),
            ),
        )
    return Schedule(timezone="Europe/London", windows=windows, absences=absences)


def _around(
    *, rng: np.random.Generator, lat: float, lon: float, sigma_m: float
) -> tuple[float, float]:
    return (
        float(lat + rng.normal(0.0, sigma_m / METRES_PER_DEG_LAT)),
        float(lon + rng.normal(0.0, sigma_m / _metres_per_deg_lon(lat))),
    )


def _offset(
    *, lat: np.ndarray[Any, Any], lon: np.ndarray[Any, Any],
    east_m: np.ndarray[Any, Any], north_m: np.ndarray[Any, Any],
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    return (
        lat + north_m / METRES_PER_DEG_LAT,
        lon + east_m / (METRES_PER_DEG_LAT * np.cos(np.radians(lat))),
    )


def _centre(shape: ZoneShape) -> tuple[float, float]:
    projection = shape.projection
    return projection.origin_lat, projection.origin_lon


def _metres_per_deg_lon(lat: float) -> float:
    return METRES_PER_DEG_LAT * float(np.cos(np.radians(lat)))


def _nominal_radius(shape: ZoneShape) -> float:
    if isinstance(shape, Circle):
        return shape.radius_m
    return float(np.hypot(*shape.projected_rings()[0].T).max())


@contextlib.contextmanager
def _one_core() -> Iterator[int | None]:
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    previous = os.sched_getaffinity(0)
    cpu = max(previous)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, previous)


def _machine(*, cpu: int | None) -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "pinned_cpu": cpu,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
