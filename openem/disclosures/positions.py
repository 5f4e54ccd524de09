"""What the disclosures domain needs from stored positions, behind a small protocol.

The positions store (``openem.locations``) owns the ``positions`` table. Until it
offers these queries itself, :class:`SqlPositions` reads any table with the
columns ``subject_id``, ``fixed_at``, ``lat``, ``lon`` and ``flagged`` (fixes
flagged by the GPS quality filter are left out), portable across SQLite and
PostgreSQL: a bounding box in SQL, the exact great-circle distance in Python.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine, Float, Uuid, bindparam, inspect, text
from sqlalchemy.orm import Session

from openem.db.base import UTCDateTime

EARTH_RADIUS_M = 6_371_008.8
MAX_TRAIL_FIXES = 50_000


@dataclass(frozen=True)
class Fix:
    fixed_at: datetime
    lat: float
    lon: float


class PositionSource(Protocol):
    def find_subjects_near(
        self,
        session: Session,
        *,
        lat: float,
        lon: float,
        radius_m: float,
        start: datetime,
        end: datetime,
    ) -> list[uuid.UUID]: ...

    def trail(
        self, session: Session, *, subject_id: uuid.UUID, start: datetime, end: datetime
    ) -> list[Fix]: ...


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = math.degrees(radius_m / (EARTH_RADIUS_M * max(math.cos(math.radians(lat)), 1e-6)))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


class SqlPositions:
    def __init__(self, table: str = "positions") -> None:
        if not table.isidentifier():
            raise ValueError("table must be a plain identifier")
        self.table = table

    def available(self, bind: Engine) -> bool:
        return inspect(bind).has_table(self.table)

    def find_subjects_near(
        self,
        session: Session,
        *,
        lat: float,
        lon: float,
        radius_m: float,
        start: datetime,
        end: datetime,
    ) -> list[uuid.UUID]:
        south, north, west, east = _box(lat, lon, radius_m)
        statement = (
            text(
                f"SELECT subject_id, lat, lon FROM {self.table} "
                "WHERE fixed_at >= :start AND fixed_at <= :end AND NOT flagged "
                "AND lat BETWEEN :south AND :north AND lon BETWEEN :west AND :east"
            )
            .bindparams(
                bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())
            )
            .columns(subject_id=Uuid(), lat=Float(), lon=Float())
        )
        found: set[uuid.UUID] = set()
        rows = session.execute(
            statement,
            {
                "start": start,
                "end": end,
                "south": south,
                "north": north,
                "west": west,
                "east": east,
            },
        )
        for subject_id, fix_lat, fix_lon in rows:
            if distance_m(lat, lon, fix_lat, fix_lon) <= radius_m:
                found.add(subject_id)
        return sorted(found)

    def trail(
        self, session: Session, *, subject_id: uuid.UUID, start: datetime, end: datetime
    ) -> list[Fix]:
        statement = (
            text(
                f"SELECT fixed_at, lat, lon FROM {self.table} "
                "WHERE subject_id = :subject_id AND fixed_at >= :start AND fixed_at <= :end "
                "AND NOT flagged ORDER BY fixed_at LIMIT :limit"
            )
            .bindparams(
                bindparam("start", type_=UTCDateTime()),
                bindparam("end", type_=UTCDateTime()),
                bindparam("subject_id", type_=Uuid()),
            )
            .columns(fixed_at=UTCDateTime(), lat=Float(), lon=Float())
        )
        rows = session.execute(
            statement,
            {"subject_id": subject_id, "start": start, "end": end, "limit": MAX_TRAIL_FIXES},
        )
        return [Fix(fixed_at=at, lat=la, lon=lo) for at, la, lo in rows]


DEFAULT_SOURCE = SqlPositions()


def find_subjects_near(
    session: Session, *, lat: float, lon: float, radius_m: float, start: datetime, end: datetime
) -> list[uuid.UUID]:
    """Subjects with an unflagged fix within ``radius_m`` of the point between the times."""
    return DEFAULT_SOURCE.find_subjects_near(
        session, lat=lat, lon=lon, radius_m=radius_m, start=start, end=end
    )
