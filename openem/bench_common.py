"""Shared pieces of every `openem bench` script: the machine line and target checks."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from typing import Any


def machine() -> dict[str, Any]:
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).date().isoformat(),
    }


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def target(value: float, wanted: float, op: str) -> dict[str, Any]:
    met = value >= wanted if op == ">=" else value <= wanted
    return {"target": wanted, "op": op, "met": bool(met)}
