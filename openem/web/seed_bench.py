"""Bulk data for the dashboard benchmark, generated inside PostgreSQL (no rows cross the wire).

10,000 fictional subjects, each with an order, a device and its health; a fix a minute
for ``heavy`` subjects over ``days`` days and for the rest over ``rest_hours`` hours.
Positions are loaded with indexes dropped and rebuilt after, as a bulk load would be.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, text

SUBJECTS_SQL = """
INSERT INTO subjects (id, given_name, family_name, date_of_birth, nationality,
  home_office_reference, language, timezone, risk_level, caseload_team, fictional,
  created_at, updated_at)
SELECT gen_random_uuid(), 'Bench', 'Subject ' || n, DATE '1980-01-01' + (n % 9000),
  'NGA', 'BENCH-' || lpad(n::text, 6, '0'), 'en', 'Europe/London',
  (ARRAY['low','medium','high'])[1 + n % 3], 'north', true, :now, :now
FROM generate_series(1, :subjects) AS n
"""

ORDERS_SQL = """
INSERT INTO orders (id, subject_id, legal_basis_reference, offence, court, conviction_date,
  immigration_status, device_kind, monitoring_mode, starts_at, ends_at, checkins_per_day,
  next_review_on, status, created_at, updated_at)
SELECT gen_random_uuid(), s.id, 'Immigration Act 2016 Sch. 10', 'theft', 'Bench Court',
  DATE '2024-01-01', 'deportation_order', 'fitted_tag', 'full_trail',
  :now - INTERVAL '60 days', :now + INTERVAL '120 days', 0,
  (:now)::date + (abs(hashtext(s.id::text)) % 90), 'active', :now, :now
FROM subjects s WHERE s.home_office_reference LIKE 'BENCH-%'
"""

DEVICES_SQL = """
INSERT INTO devices (id, kind, serial, state, order_id, subject_id, created_at, updated_at)
SELECT gen_random_uuid(), 'fitted_tag', 'BENCH-' || o.subject_id, 'assigned', o.id,
  o.subject_id, :now, :now
FROM orders o JOIN subjects s ON s.id = o.subject_id
WHERE s.home_office_reference LIKE 'BENCH-%'
"""

HEALTH_SQL = """
INSERT INTO device_health (device_id, subject_id, last_seen_at, last_fix_at, battery_level,
  charging, strap_state, worn)
SELECT d.id, d.subject_id, :now - (abs(hashtext(d.id::text)) % 7200) * INTERVAL '1 second',
  :now, abs(hashtext(d.serial)) % 100, false, 'closed', true
FROM devices d WHERE d.serial LIKE 'BENCH-%'
"""

# One subject's fixes: a wandering walk around central London, a fix a minute.
POSITIONS_SQL = """
INSERT INTO positions (device_id, subject_id, order_id, seq, fixed_at, received_at, lat, lon,
  accuracy_m, source, flags)
SELECT d.id, d.subject_id, d.order_id, m, :now - (:minutes - m) * INTERVAL '1 minute',
  :now - (:minutes - m) * INTERVAL '1 minute',
  51.5 + 0.02 * sin(m / 97.0 + k) + 0.004 * sin(m / 7.0),
  -0.12 + 0.03 * cos(m / 131.0 + k) + 0.004 * cos(m / 11.0), 8, 'native', ''
FROM (SELECT id, subject_id, order_id, row_number() OVER (ORDER BY id) AS k
      FROM devices WHERE serial LIKE 'BENCH-%' ORDER BY id OFFSET :offset LIMIT :count) d,
     generate_series(1, :minutes) AS m
"""

POSITION_INDEXES = (
    ("ix_positions_subject_fixed_at", "CREATE INDEX ix_positions_subject_fixed_at "
     "ON positions (subject_id, fixed_at)"),
    ("ix_positions_fixed_at", "CREATE INDEX ix_positions_fixed_at ON positions (fixed_at)"),
)


@dataclass(frozen=True)
class SeedFigures:
    subjects: int
    positions: int
    seconds: float


def seed(
    engine: Engine, *, now: datetime, subjects: int, heavy: int, days: float, rest_hours: float
) -> SeedFigures:
    started = time.perf_counter()
    params = {"now": now, "subjects": subjects}
    with engine.begin() as connection:
        for statement in (SUBJECTS_SQL, ORDERS_SQL, DEVICES_SQL, HEALTH_SQL):
            connection.execute(text(statement), params)
        for name, _ in POSITION_INDEXES:
            connection.execute(text(f"DROP INDEX IF EXISTS {name}"))
    heavy_minutes, rest_minutes = int(days * 1440), int(rest_hours * 60)
    batches = [(0, heavy, heavy_minutes)]
    batches += [(offset, 500, rest_minutes) for offset in range(heavy, subjects, 500)]
    total = 0
    for offset, count, minutes in batches:
        with engine.begin() as connection:
            result = connection.execute(
                text(POSITIONS_SQL),
                {"now": now, "minutes": minutes, "offset": offset, "count": count},
            )
            total += result.rowcount
    with engine.begin() as connection:
        for _, create in POSITION_INDEXES:
            connection.execute(text(create))
        connection.execute(text("ANALYZE"))
    return SeedFigures(subjects=subjects, positions=total, seconds=time.perf_counter() - started)
