"""Trail simplification for the map: real fixes only, ends kept, bounded size."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

from openem.locations.exports import to_geojson
from openem.locations.quality import Fix
from openem.locations.simplify import MAX_POINTS, pixel_degrees, simplify

START = datetime(2026, 3, 1, tzinfo=UTC)


def _walk(n: int) -> list[Fix]:
    """A fix a minute along a wiggly route through London."""
    return [
        Fix(ts=START + timedelta(minutes=i), lat=51.5 + 0.0004 * math.sin(i / 30) + i * 1e-5,
            lon=-0.12 + i * 2e-5, accuracy_m=8.0)
        for i in range(n)
    ]


def test_a_straight_line_keeps_only_its_ends() -> None:
    line = [Fix(ts=START + timedelta(minutes=i), lat=51.5, lon=-0.1 + i * 1e-4, accuracy_m=5.0)
            for i in range(100)]
    kept = simplify(line, zoom=15)
    assert [fix.ts for fix in kept] == [line[0].ts, line[-1].ts]


def test_simplified_fixes_are_real_fixes_in_time_order() -> None:
    fixes = _walk(1440)
    kept = simplify(fixes, zoom=14)
    assert kept[0] is fixes[0] and kept[-1] is fixes[-1]
    assert all(fix in fixes for fix in kept)
    assert [fix.ts for fix in kept] == sorted(fix.ts for fix in kept)
    assert len(kept) < len(fixes)


def test_more_zoom_keeps_more_detail() -> None:
    fixes = _walk(1440)
    assert len(simplify(fixes, zoom=10)) <= len(simplify(fixes, zoom=17))
    assert pixel_degrees(1) == 2 * pixel_degrees(2)


def test_a_month_of_minutes_stays_under_200_kb_as_geojson() -> None:
    fixes = _walk(31 * 1440)
    kept = simplify(fixes, zoom=18)
    assert len(kept) <= MAX_POINTS
    assert len(json.dumps(to_geojson(kept))) < 200_000
