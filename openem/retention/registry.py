"""Where other domains plug in: a purger per data class, an exporter per record class.

A domain whose tables hold personal data registers, once, at import of its module:

    from openem.retention.registry import register_purger, register_exporter
    register_purger("alerts", "alert_rows", purge_alerts)
    register_exporter("alerts", export_alerts)

Purgers run inside the purge's transaction and must delete in batches of
``scope.batch_size``; exporters return JSON-ready records (and optional files)
about one subject and nobody else.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from openem.crypto.envelope import KeyRing


@dataclass(frozen=True)
class PurgeScope:
    """What is due: ``subject_ids`` for order_end classes, ``cutoff`` for recorded ones."""

    data_class: str
    subject_ids: Sequence[uuid.UUID]
    cutoff: datetime
    now: datetime
    data_dir: Path
    batch_size: int
    held: frozenset[uuid.UUID] = frozenset()


# Returns one stable identifier per deleted thing ("positions:123", "file:archives/..")
Purger = Callable[[Session, PurgeScope], list[str]]


@dataclass
class ExportSection:
    """One record class in a subject-access archive."""

    records: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportScope:
    subject_id: uuid.UUID
    now: datetime
    data_dir: Path
    keyring: KeyRing | None


Exporter = Callable[[Session, ExportScope], ExportSection]

_purgers: dict[str, dict[str, Purger]] = {}
_exporters: dict[str, Exporter] = {}


def register_purger(data_class: str, name: str, purger: Purger) -> None:
    """Add (or replace, by name) a purge function for a data class."""
    from openem.retention.schedules import CLASS_NAMES

    if data_class not in CLASS_NAMES:
        raise ValueError(f"unknown data class {data_class!r}")
    _purgers.setdefault(data_class, {})[name] = purger


def purgers_for(data_class: str) -> list[tuple[str, Purger]]:
    return list(_purgers.get(data_class, {}).items())


def register_exporter(section: str, exporter: Exporter) -> None:
    """Add (or replace) the exporter of one section of the subject-access archive."""
    _exporters[section] = exporter


def exporters() -> list[tuple[str, Exporter]]:
    return list(_exporters.items())
