"""A compiled, vectorised evaluator of many subjects' zones against batches of fixes.

Each (fix, zone of the fix's subject) pair is classified as in `geometry.classify`
and marked active when the zone's schedule applies at the fix time. Zones are
compiled once into flat arrays (projection origins, bounding radii, projected
polygon edges, schedule intervals), so a batch costs a few dozen numpy passes:
every pair gets an exact circle test or a bounding-circle test, and only pairs
near a polygon boundary reach the per-edge signed-distance pass.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

import numpy as np
from shapely.geometry import Point as ShapelyPoint

from openem.zones.geometry import (
    BOUNDARY_EPSILON_M,
    Circle,
    Classification,
    Polygon,
    ZoneGeometryError,
    ZoneShape,
    ecef,
)
from openem.zones.schedule import Schedule

Array = np.ndarray[Any, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000
FAST_PATH_MARGIN_M = 1e-6
MAX_EDGE_WORK = 1 << 20
MAX_HORIZON_DAYS = 60


class ZoneKind(StrEnum):
    INCLUSION = "inclusion"
    EXCLUSION = "exclusion"


@dataclass(frozen=True)
class ZoneAssignment:
    subject_id: Hashable
    zone_id: Hashable
    kind: ZoneKind
    shape: ZoneShape
    schedule: Schedule | None = None


@dataclass(frozen=True)
class ZoneEvaluation:
    """One row per (fix, applicable zone): indices into the batch and into the index."""

    fix_index: Array
    zone_slot: Array
    classification: Array
    active: Array

    def __len__(self) -> int:
        return len(self.fix_index)


class ZoneResult(NamedTuple):
    fix_index: int
    subject_id: Hashable
    zone_id: Hashable
    kind: ZoneKind
    classification: Classification
    active: bool


class ZoneIndex:
    def __init__(self, *, zones: Sequence[ZoneAssignment]) -> None:
        self._integer_subjects = all(
            isinstance(z.subject_id, int | np.integer) and not isinstance(z.subject_id, bool)
            for z in zones
        )
        order = sorted(range(len(zones)), key=lambda i: _subject_sort_key(zones[i].subject_id))
        self.zones: tuple[ZoneAssignment, ...] = tuple(zones[i] for i in order)
        self._compile_subjects()
        self._compile_shapes()
        self._compile_schedules()

    def zone(self, slot: int) -> ZoneAssignment:
        return self.zones[slot]

    def rows(self, *, evaluation: ZoneEvaluation) -> Iterator[ZoneResult]:
        for fix, slot, cls, active in zip(
            evaluation.fix_index.tolist(),
            evaluation.zone_slot.tolist(),
            evaluation.classification.tolist(),
            evaluation.active.tolist(),
            strict=True,
        ):
            zone = self.zones[slot]
            yield ZoneResult(
                fix, zone.subject_id, zone.zone_id, zone.kind, Classification(cls), active
            )

    def evaluate(
        self,
        *,
        subject_ids: Sequence[Hashable] | Array,
        times: Sequence[datetime] | Array,
        lats: Sequence[float] | Array,
        lons: Sequence[float] | Array,
        accuracies: Sequence[float] | Array,
    ) -> ZoneEvaluation:
        """Classify every fix against each zone of its subject.

        `times` are aware datetimes, numpy datetime64 values (UTC) or epoch seconds.
        """
        lat = np.asarray(lats, dtype=np.float64)
        lon = np.asarray(lons, dtype=np.float64)
        acc = np.asarray(accuracies, dtype=np.float64)
        t_us = _times_us(times)
        n = len(lat)
        if not (len(lon) == len(acc) == len(t_us) == len(subject_ids) == n):
            raise ValueError("fix arrays must all have the same length")
        _check_fixes(lat=lat, lon=lon, acc=acc)
        position, count = self._subject_slots(subject_ids)
        total = int(count.sum())
        fix_index = np.repeat(np.arange(n, dtype=np.int64), count)
        before = np.cumsum(count) - count
        zone_slot = np.arange(total, dtype=np.int64) + np.repeat(
            self._subject_start[position] - before, count
        )
        fx, fy, fz = ecef(lats=lat, lons=lon)
        dx = fx[fix_index] - self._ox[zone_slot]
        dy = fy[fix_index] - self._oy[zone_slot]
        dz = fz[fix_index] - self._oz[zone_slot]
        chord2 = dx * dx + dy * dy + dz * dz
        distance = np.sqrt(chord2) * (1.0 + chord2 * self._inv_24r2[zone_slot])
        pair_acc = acc[fix_index]
        cls = np.full(total, Classification.UNCERTAIN, dtype=np.int8)
        cls[distance - pair_acc > self._outer[zone_slot]] = Classification.OUTSIDE
        cls[distance + pair_acc <= self._inner[zone_slot]] = Classification.INSIDE
        near = np.flatnonzero((cls == Classification.UNCERTAIN) & self._is_polygon[zone_slot])
        if len(near):
            cls[near] = self._classify_near_polygons(
                zone_slot=zone_slot[near], dx=dx[near], dy=dy[near], dz=dz[near],
                chord2=chord2[near], acc=pair_acc[near],
            )
        active = self._activity(zone_slot=zone_slot, t_us=t_us[fix_index])
        return ZoneEvaluation(fix_index=fix_index, zone_slot=zone_slot, classification=cls,
                              active=active)

    def _compile_subjects(self) -> None:
        keys: list[Hashable] = []
        starts: list[int] = []
        counts: list[int] = []
        for slot, zone in enumerate(self.zones):
            if keys and keys[-1] == zone.subject_id:
                counts[-1] += 1
            else:
                keys.append(zone.subject_id)
                starts.append(slot)
                counts.append(1)
        self._subject_start = np.array([*starts, 0], dtype=np.int64)
        self._subject_count = np.array([*counts, 0], dtype=np.int64)
        self._unknown = len(keys)
        self._subject_keys = np.array(keys if self._integer_subjects else [], dtype=np.int64)
        self._subject_position = {key: i for i, key in enumerate(keys)}

    def _subject_slots(self, subject_ids: Sequence[Hashable] | Array) -> tuple[Array, Array]:
        ids = subject_ids if isinstance(subject_ids, np.ndarray) else None
        if self._integer_subjects and ids is not None and ids.dtype.kind in "iu":
            keys = self._subject_keys
            position = np.searchsorted(keys, ids).clip(0, max(len(keys) - 1, 0))
            found = keys[position] == ids if len(keys) else np.zeros(len(ids), dtype=bool)
            position = np.where(found, position, self._unknown)
        else:
            lookup = self._subject_position
            position = np.fromiter(
                (lookup.get(_plain(s), self._unknown) for s in subject_ids),
                dtype=np.int64, count=len(subject_ids),
            )
        return position, self._subject_count[position]

    def _compile_shapes(self) -> None:
        size = len(self.zones)
        origin = np.zeros((size, 3))
        rotation = np.zeros((size, 4))
        self._inv_24r2 = np.zeros(size)
        self._outer = np.zeros(size)
        self._inner = np.zeros(size)
        self._is_polygon = np.zeros(size, dtype=bool)
        edge_start = np.zeros(size, dtype=np.int64)
        edge_count = np.zeros(size, dtype=np.int64)
        segments: list[Array] = []
        used = 0
        for slot, zone in enumerate(self.zones):
            projection = zone.shape.projection
            origin[slot] = projection.origin_ecef
            rotation[slot] = projection.rotation
            self._inv_24r2[slot] = projection.inv_24r2
            if isinstance(zone.shape, Circle):
                self._outer[slot] = self._inner[slot] = zone.shape.radius_m
                continue
            assert isinstance(zone.shape, Polygon)
            ring_edges = [np.hstack([r[:-1], r[1:]]) for r in zone.shape.projected_rings()]
            edges = np.vstack(ring_edges)
            segments.append(edges)
            self._is_polygon[slot] = True
            edge_start[slot], edge_count[slot] = used, len(edges)
            used += len(edges)
            self._outer[slot] = float(np.hypot(edges[:, 0], edges[:, 1]).max()) + FAST_PATH_MARGIN_M
            self._inner[slot] = _inner_radius(zone.shape) - FAST_PATH_MARGIN_M
        self._ox, self._oy, self._oz = (np.ascontiguousarray(origin[:, i]) for i in range(3))
        self._rotation = tuple(np.ascontiguousarray(rotation[:, i]) for i in range(4))
        self._edge_start, self._edge_count = edge_start, edge_count
        edges = np.vstack(segments) if segments else np.zeros((0, 4))
        self._ax, self._ay = edges[:, 0].copy(), edges[:, 1].copy()
        self._dx, self._dy = edges[:, 2] - edges[:, 0], edges[:, 3] - edges[:, 1]
        length2 = self._dx * self._dx + self._dy * self._dy
        self._inv_length2 = np.divide(
            1.0, length2, out=np.zeros_like(length2), where=length2 > 0
        )
        self._slope = np.divide(
            self._dx, self._dy, out=np.zeros_like(self._dy), where=self._dy != 0
        )

    def _classify_near_polygons(
        self, *, zone_slot: Array, dx: Array, dy: Array, dz: Array, chord2: Array, acc: Array
    ) -> Array:
        sin_lat, cos_lat, sin_lon, cos_lon = (r[zone_slot] for r in self._rotation)
        east = cos_lon * dy - sin_lon * dx
        north = cos_lat * dz - sin_lat * (cos_lon * dx + sin_lon * dy)
        horizontal2 = east * east + north * north
        safe = np.where(horizontal2 > 0.0, horizontal2, 1.0)
        scale = np.sqrt(chord2 / safe) * (1.0 + chord2 * self._inv_24r2[zone_slot])
        scale[horizontal2 <= 0.0] = 1.0
        px, py = east * scale, north * scale
        counts = self._edge_count[zone_slot]
        out = np.empty(len(zone_slot), dtype=np.int8)
        bounds = np.searchsorted(np.cumsum(counts), np.arange(MAX_EDGE_WORK, int(counts.sum()),
                                                              MAX_EDGE_WORK))
        for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), len(zone_slot)], strict=True):
            if hi > lo:
                out[lo:hi] = self._edge_pass(
                    px=px[lo:hi], py=py[lo:hi], acc=acc[lo:hi], zone_slot=zone_slot[lo:hi]
                )
        return out

    def _edge_pass(self, *, px: Array, py: Array, acc: Array, zone_slot: Array) -> Array:
        counts = self._edge_count[zone_slot]
        before = np.cumsum(counts) - counts
        edge = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(
            self._edge_start[zone_slot] - before, counts
        )
        ex, ey = self._dx[edge], self._dy[edge]
        vx = np.repeat(px, counts) - self._ax[edge]
        vy = np.repeat(py, counts) - self._ay[edge]
        along = np.clip((vx * ex + vy * ey) * self._inv_length2[edge], 0.0, 1.0)
        wx = vx - along * ex
        wy = vy - along * ey
        nearest2 = np.minimum.reduceat(wx * wx + wy * wy, before)
        crossing = ((vy < 0.0) != (vy < ey)) & (vx < vy * self._slope[edge])
        odd = np.logical_xor.reduceat(crossing, before)
        to_boundary = np.sqrt(nearest2)
        covered = odd | (to_boundary <= BOUNDARY_EPSILON_M)
        cls = np.full(len(px), Classification.UNCERTAIN, dtype=np.int8)
        cls[covered & (to_boundary >= acc)] = Classification.INSIDE
        cls[~covered & (to_boundary > acc)] = Classification.OUTSIDE
        return cls

    def _compile_schedules(self) -> None:
        distinct: dict[Schedule, int] = {}
        keys = np.full(len(self.zones), -1, dtype=np.int64)
        for slot, zone in enumerate(self.zones):
            if zone.schedule is not None:
                keys[slot] = distinct.setdefault(zone.schedule, len(distinct))
        self._schedule_key = keys
        self._schedules = list(distinct)
        self._horizon: tuple[int, int] | None = None
        self._interval_start = np.zeros(0, dtype=np.int64)
        self._interval_end = np.zeros(0, dtype=np.int64)

    def _activity(self, *, zone_slot: Array, t_us: Array) -> Array:
        active = np.ones(len(zone_slot), dtype=bool)
        schedule = self._schedule_key[zone_slot]
        scheduled = np.flatnonzero(schedule >= 0)
        if not len(scheduled):
            return active
        t = t_us[scheduled]
        h0, span = self._ensure_horizon(int(t.min()), int(t.max()))
        key = schedule[scheduled] * span + (t - h0)
        position = np.searchsorted(self._interval_start, key, side="right") - 1
        inside = key < self._interval_end[position.clip(0)]
        active[scheduled] = (position >= 0) & inside
        return active

    def _ensure_horizon(self, first_us: int, last_us: int) -> tuple[int, int]:
        if self._horizon is not None:
            h0, span = self._horizon
            if h0 <= first_us and last_us < h0 + span:
                return self._horizon
        start = (first_us // DAY_US - 1) * DAY_US
        end = (last_us // DAY_US + 8) * DAY_US
        if self._horizon is not None:
            h0, span = self._horizon
            if max(end, h0 + span) - min(start, h0) <= MAX_HORIZON_DAYS * DAY_US:
                start, end = min(start, h0), max(end, h0 + span)
        span = end - start
        if span * (len(self._schedules) + 1) >= 1 << 62:
            raise ValueError("fix batch covers too long a period; split it by time")
        starts: list[int] = []
        ends: list[int] = []
        begin = EPOCH + timedelta(microseconds=start)
        finish = EPOCH + timedelta(microseconds=end)
        for k, schedule in enumerate(self._schedules):
            for s, e in schedule.active_intervals(begin, finish):
                starts.append(k * span + _us(s) - start)
                ends.append(k * span + _us(e) - start)
        self._interval_start = np.array(starts, dtype=np.int64)
        self._interval_end = np.array(ends, dtype=np.int64)
        self._horizon = (start, span)
        return self._horizon


def _inner_radius(polygon: Polygon) -> float:
    projected = polygon.projected_shape()
    centre = ShapelyPoint(0.0, 0.0)
    if not projected.covers(centre):
        return -1.0
    return float(projected.boundary.distance(centre))


def _check_fixes(*, lat: Array, lon: Array, acc: Array) -> None:
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise ZoneGeometryError("fix coordinates must be finite")
    if np.abs(lat).max(initial=0.0) > 90.0 or np.abs(lon).max(initial=0.0) > 180.0:
        raise ZoneGeometryError("fix coordinate out of range (lat -90..90, lon -180..180)")
    if not np.isfinite(acc).all() or acc.min(initial=0.0) < 0.0:
        raise ZoneGeometryError("fix accuracy must be a finite number of metres, 0 or more")


def _times_us(times: Sequence[datetime] | Array) -> Array:
    array = np.asarray(times)
    if array.dtype.kind == "M":
        return array.astype("datetime64[us]").astype(np.int64)
    if array.dtype.kind in "iuf":
        return np.round(array.astype(np.float64) * 1e6).astype(np.int64)
    return np.fromiter((_us(t) for t in times), dtype=np.int64, count=len(array))


def _us(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("fix times must carry a time zone")
    return (at - EPOCH) // timedelta(microseconds=1)


def _plain(subject_id: Hashable) -> Hashable:
    return subject_id.item() if isinstance(subject_id, np.generic) else subject_id


def _subject_sort_key(subject_id: Hashable) -> tuple[str, Any]:
    if isinstance(subject_id, int | np.integer) and not isinstance(subject_id, bool):
        return ("", int(subject_id))
    return (type(subject_id).__name__, str(subject_id))
