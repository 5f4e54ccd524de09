"""Shared pieces of every `openem bench` script: the machine line, target checks, and the
refusal of a database that holds real subjects."""

from __future__ import annotations

import os
import platform
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, inspect, select

from openem.db.engine import make_engine
from openem.subjects.models import Subject


def machine() -> dict[str, Any]:
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).date().isoformat(),
        "load_average_1m": os.getloadavg()[0],
        "loop_10m_s": loop_seconds(),
    }


def loop_seconds(turns: int = 10_000_000) -> float:
    """Seconds for ``turns`` of an empty Python loop: how fast this shared host ran when
    the figures were taken (the same code's figures move with it from day to day)."""
    started = time.perf_counter()
    for _ in range(turns):
        pass
    return round(time.perf_counter() - started, 3)


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def target(value: float, wanted: float, op: str) -> dict[str, Any]:
    met = value >= wanted if op == ">=" else value <= wanted
    return {"target": wanted, "op": op, "met": bool(met)}


class NotABenchDatabase(RuntimeError):
    """The database holds real subjects: a bench that adds fictional ones, their orders
    and approved impact assessments has no place there."""


def refuse_real_subjects(database_url: str, *, bench: str) -> None:
    """:class:`NotABenchDatabase` if the database holds a subject not marked fictional
    (before anything is migrated or written)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            real = inspect(connection).has_table("subjects") and connection.scalar(
                select(func.count()).where(Subject.fictional.is_(False))
            )
    finally:
        engine.dispose()
    if real:
        raise NotABenchDatabase(
            f"the {bench} bench adds fictional subjects, orders and approved impact "
            "assessments: give it an empty database, not one holding real subjects"
        )
