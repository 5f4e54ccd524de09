"""A fictional city: each simulated wearer's home, work, errands and exclusion zone.

Derived deterministically from the device serial, so the demo's seeding (zones) and the
simulator (movement) agree without talking to each other.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

CITY_CENTRE = (52.4862, -1.8904)
METRES_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float


@dataclass(frozen=True)
class Scenario:
    """What this wearer does in the demo's first minutes."""

    enters_exclusion: bool
    out_after_curfew: bool
    cuts_strap: bool
    loses_signal: bool
    misses_checkins: bool
    battery_start: int


@dataclass(frozen=True)
class Life:
    home: Place
    work: Place
    errands: tuple[Place, ...]
    exclusion: Place
    exclusion_radius_m: float
    home_radius_m: float
    scenario: Scenario


def offset(place: Place, *, north_m: float, east_m: float) -> Place:
    lat = place.lat + north_m / METRES_PER_DEG_LAT
    lon = place.lon + east_m / (METRES_PER_DEG_LAT * math.cos(math.radians(place.lat)))
    return Place(lat, lon)


def distance_m(a: Place, b: Place) -> float:
    north = (b.lat - a.lat) * METRES_PER_DEG_LAT
    east = (b.lon - a.lon) * METRES_PER_DEG_LAT * math.cos(math.radians((a.lat + b.lat) / 2))
    return math.hypot(north, east)


def _rng(serial: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(serial.encode()).digest()[:8], "big"))


def _around(rng: random.Random, centre: Place, radius_m: float) -> Place:
    distance = radius_m * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    return offset(centre, north_m=distance * math.cos(bearing), east_m=distance * math.sin(bearing))


def life_of(serial: str, index: int) -> Life:
    rng = _rng(serial)
    centre = Place(*CITY_CENTRE)
    home = _around(rng, centre, 6_000)
    work = _around(rng, centre, 4_000)
    errands = tuple(_around(rng, home, 2_500) for _ in range(3))
    exclusion = _around(rng, home, 3_000)
    role = index % 10
    return Life(
        home=home,
        work=work,
        errands=errands,
        exclusion=exclusion,
        exclusion_radius_m=200.0,
        home_radius_m=120.0,
        scenario=Scenario(
            enters_exclusion=role == 1,
            out_after_curfew=role == 2,
            cuts_strap=role == 3,
            loses_signal=role == 4,
            misses_checkins=role in (5, 6),
            battery_start=12 if role == 7 else rng.randrange(40, 100),
        ),
    )


FACE_CHECKIN_SUBJECTS = 6  # smartwatch wearers among the first six demo subjects (1, 2, 4, 5)
SMARTWATCH_PREFIX = "DEMO-SMA-"


@dataclass(frozen=True)
class FaceCheckin:
    """A wearer enrolled with a demo face and prompted for a check-in as the demo starts.

    ``wearer`` numbers these wearers 0, 1, 2, ...; the last one's demo role is to show
    another person's face to the watch (the check-in fails as a no-match)."""

    wearer: int
    impostor: bool

    def own_face(self, faces: int) -> int:
        return self.wearer % faces

    def shown_face(self, faces: int) -> int:
        own = self.own_face(faces)
        # Another wearer's face (the one before its own): its simulated turns pass
        # liveness, so the attempts end as no-matches.
        return (own - 1) % faces if self.impostor else own


def face_checkin_of(serial: str) -> FaceCheckin | None:
    """From the serial alone (``DEMO-SMA-<index>``), so seeding and the simulator agree: the
    demo makes subject ``index`` a smartwatch wearer unless ``index % 3 == 0``."""
    if not serial.startswith(SMARTWATCH_PREFIX):
        return None
    try:
        index = int(serial.removeprefix(SMARTWATCH_PREFIX))
    except ValueError:
        return None
    if index % 3 == 0 or index >= FACE_CHECKIN_SUBJECTS:
        return None
    wearer = index - (index + 2) // 3  # rank among smartwatch subjects: 1->0, 2->1, 4->2, 5->3
    last = FACE_CHECKIN_SUBJECTS - (FACE_CHECKIN_SUBJECTS + 2) // 3 - 1
    return FaceCheckin(wearer=wearer, impostor=wearer == last)


def index_of(serial: str, fallback: int) -> int:
    """The wearer's number in the demo: the digits ending a demo serial (DEMO-SMA-00004 -> 4),
    so seeding and the simulator give the same wearer the same role and places."""
    tail = serial.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else fallback
