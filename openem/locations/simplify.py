"""Trail simplification for the map: Douglas-Peucker at about one screen pixel of the zoom.

Keeps real fixes (with their times), never invents points, and always keeps the first and
last fix. A trail that is still too long at that tolerance is simplified harder until it
fits ``max_points``, so a map response stays small whatever the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from openem.locations.quality import FixLike

F = TypeVar("F", bound=FixLike)
TILE_PX = 256
MAX_POINTS = 1_000


def pixel_degrees(zoom: int) -> float:
    """Degrees of longitude per screen pixel at a Web-Mercator zoom level."""
    return 360.0 / (TILE_PX * 2**zoom)


def _keep(xy: np.ndarray, tolerance: float) -> np.ndarray:
    """Indices Douglas-Peucker keeps, iteratively (no recursion limit on long trails)."""
    keep = np.zeros(len(xy), dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(xy) - 1)]
    while stack:
        first, last = stack.pop()
        if last - first < 2:
            continue
        start, end = xy[first], xy[last]
        segment = end - start
        inner = xy[first + 1 : last] - start
        length = float(np.hypot(*segment))
        if length == 0.0:
            distances = np.hypot(inner[:, 0], inner[:, 1])
        else:
            distances = np.abs(segment[0] * inner[:, 1] - segment[1] * inner[:, 0]) / length
        worst = int(np.argmax(distances))
        if distances[worst] > tolerance:
            index = first + 1 + worst
            keep[index] = True
            stack.append((first, index))
            stack.append((index, last))
    return np.flatnonzero(keep)


def simplify(fixes: Sequence[F], *, zoom: int, max_points: int = MAX_POINTS) -> list[F]:
    """The fixes that draw the same trail at ``zoom``, at most ``max_points`` of them."""
    if len(fixes) <= 2:
        return list(fixes)
    ordered = sorted(fixes, key=lambda fix: fix.ts)
    latitude = np.radians(np.mean([fix.lat for fix in ordered]))
    # Scale longitude so a tolerance in degrees means the same distance both ways.
    xy = np.array([(fix.lon * np.cos(latitude), fix.lat) for fix in ordered])
    tolerance = pixel_degrees(zoom)
    kept = _keep(xy, tolerance)
    while len(kept) > max_points:
        tolerance *= 2
        kept = _keep(xy, tolerance)
    return [ordered[i] for i in kept]
