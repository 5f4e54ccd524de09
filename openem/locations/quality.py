"""GPS quality filter: flag fixes that should not be trusted as a location.

A flagged fix is still stored (it is evidence of what the device sent) but
is not used as the device's "last accepted fix", does not drive zone rules on
its own and is shown as doubtful. Reasons never contain coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

__all__ = [
    "DEFAULT_QUALITY_SETTINGS",
    "Fix",
    "FixLike",
    "QualityFlag",
    "QualityIssue",
    "QualitySettings",
    "QualityVerdict",
    "check_fix",
    "haversine_m",
    "plausible",
]

EARTH_RADIUS_M = 6_371_008.8


class FixLike(Protocol):
    @property
    def ts(self) -> datetime: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def accuracy_m(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Fix:
    ts: datetime
    lat: float
    lon: float
    accuracy_m: float | None = None
    altitude_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None


class QualityFlag(StrEnum):
    null_island = "null_island"
    out_of_range = "out_of_range"
    poor_accuracy = "poor_accuracy"
    implied_speed = "implied_speed"
    time_skew = "time_skew"


@dataclass(frozen=True, slots=True)
class QualityIssue:
    flag: QualityFlag
    reason: str


@dataclass(frozen=True, slots=True)
class QualityVerdict:
    issues: tuple[QualityIssue, ...]

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def flags(self) -> frozenset[QualityFlag]:
        return frozenset(issue.flag for issue in self.issues)


@dataclass(frozen=True, slots=True)
class QualitySettings:
    max_accuracy_m: float = 500.0
    max_speed_kmh: float = 300.0
    max_future_skew: timedelta = timedelta(minutes=5)
    max_delay: timedelta = timedelta(days=7)
    null_island_tolerance_deg: float = 1e-6


DEFAULT_QUALITY_SETTINGS = QualitySettings()
_NO_ISSUES = QualityVerdict(issues=())


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _in_range(fix: FixLike) -> bool:
    return (
        math.isfinite(fix.lat)
        and math.isfinite(fix.lon)
        and -90 <= fix.lat <= 90
        and -180 <= fix.lon <= 180
    )


def _implied_speed_issue(
    fix: FixLike, previous: FixLike, settings: QualitySettings
) -> QualityIssue | None:
    # Give the benefit of the doubt: distance minus both accuracy radii.
    slack = (fix.accuracy_m or 0.0) + (previous.accuracy_m or 0.0)
    distance = max(0.0, haversine_m(previous.lat, previous.lon, fix.lat, fix.lon) - slack)
    if distance == 0.0:
        return None
    seconds = abs((fix.ts - previous.ts).total_seconds())
    limit_mps = settings.max_speed_kmh / 3.6
    if seconds == 0.0 or distance / seconds > limit_mps:
        kmh = math.inf if seconds == 0.0 else distance / seconds * 3.6
        shown = "instantaneous" if math.isinf(kmh) else f"{kmh:.0f} km/h"
        return QualityIssue(
            QualityFlag.implied_speed,
            f"implied speed from previous fix {shown} exceeds {settings.max_speed_kmh:.0f} km/h",
        )
    return None


def check_fix(
    fix: FixLike,
    *,
    previous: FixLike | None,
    now: datetime,
    settings: QualitySettings = DEFAULT_QUALITY_SETTINGS,
) -> QualityVerdict:
    """Flag ``fix`` against the device's previous accepted fix and server time."""
    issues: list[QualityIssue] = []
    in_range = _in_range(fix)
    if not in_range:
        issues.append(QualityIssue(QualityFlag.out_of_range, "coordinates outside WGS 84 range"))
    elif (
        abs(fix.lat) <= settings.null_island_tolerance_deg
        and abs(fix.lon) <= settings.null_island_tolerance_deg
    ):
        issues.append(QualityIssue(QualityFlag.null_island, "fix at 0,0 (no position)"))
    if fix.accuracy_m is not None and not fix.accuracy_m <= settings.max_accuracy_m:
        issues.append(
            QualityIssue(
                QualityFlag.poor_accuracy,
                f"accuracy worse than {settings.max_accuracy_m:.0f} m",
            )
        )
    if fix.ts - now > settings.max_future_skew:
        issues.append(QualityIssue(QualityFlag.time_skew, "fix time ahead of server time"))
    elif now - fix.ts > settings.max_delay:
        issues.append(QualityIssue(QualityFlag.time_skew, "fix time too far behind server time"))
    if previous is not None and in_range and _in_range(previous):
        issue = _implied_speed_issue(fix, previous, settings)
        if issue is not None:
            issues.append(issue)
    return QualityVerdict(issues=tuple(issues)) if issues else _NO_ISSUES


def plausible(
    fix: FixLike,
    *,
    previous: FixLike | None,
    now: datetime,
    settings: QualitySettings = DEFAULT_QUALITY_SETTINGS,
) -> bool:
    """Whether :func:`check_fix` would find nothing, in a few comparisons: a device sends
    fixes by the thousand, and nearly all of them are fine."""
    lat, lon, accuracy = fix.lat, fix.lon, fix.accuracy_m
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # NaN fails these too
        return False
    tolerance = settings.null_island_tolerance_deg
    if abs(lat) <= tolerance and abs(lon) <= tolerance:
        return False
    if accuracy is not None and not accuracy <= settings.max_accuracy_m:
        return False
    skew = fix.ts - now
    if skew > settings.max_future_skew or -skew > settings.max_delay:
        return False
    if previous is None or not _in_range(previous):
        return True
    slack = (accuracy or 0.0) + (previous.accuracy_m or 0.0)
    seconds = abs((fix.ts - previous.ts).total_seconds())
    limit_mps = settings.max_speed_kmh / 3.6
    # Fixes a few metres apart, seconds apart, are the rule: a bound with no trigonometry
    # settles them; only a fix that fails it is measured exactly.
    bound = _distance_bound_m(previous.lat, previous.lon, lat, lon) - slack
    if bound <= 0.0 or (seconds != 0.0 and bound / seconds <= limit_mps):
        return True
    distance = max(0.0, haversine_m(previous.lat, previous.lon, lat, lon) - slack)
    if distance == 0.0:
        return True
    return seconds != 0.0 and distance / seconds <= limit_mps


_RADIANS_PER_DEGREE = math.pi / 180


def _distance_bound_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """At least :func:`haversine_m`: going along the meridian, then along the parallel
    (which is no shorter than the great circle between its ends), is no shorter than the
    great circle; widened a little so that rounding cannot put it below."""
    degrees = abs(lat2 - lat1) + abs(lon2 - lon1)
    return EARTH_RADIUS_M * _RADIANS_PER_DEGREE * degrees * (1 + 1e-9) + 1e-6
