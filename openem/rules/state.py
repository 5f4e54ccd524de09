"""Reading and writing rule state rows, and the processed-item marks.

Within one transaction the rows are cached on the session: `preload` reads every
state of the given subjects and rules in one query, after which `load`, `save`
and `all_for` for those subjects issue no SQL; the changed rows are written when
the session flushes (once per batch, as one executemany).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from openem.rules.models import ProcessedItem, RuleState

CACHE_KEY = "openem.rules.states"
StateKey = tuple[uuid.UUID, str, str]
CHUNK = 500
TAKE_ON_POSTGRESQL = text(
    "INSERT INTO rule_processed_items (device_id, seq, processed_at)"
    " SELECT d, s, :now FROM unnest(CAST(:devices AS uuid[]), CAST(:seqs AS bigint[])) AS t(d, s)"
    " ON CONFLICT DO NOTHING RETURNING device_id, seq"
)


@dataclass
class _Cache:
    rows: dict[StateKey, RuleState | None] = field(default_factory=dict)
    complete: set[tuple[uuid.UUID, str]] = field(default_factory=set)


def _cache(session: Session) -> _Cache:
    cache = session.info.get(CACHE_KEY)
    if cache is None:
        cache = session.info[CACHE_KEY] = _Cache()
    return cache


def preload(session: Session, *, subject_ids: Collection[uuid.UUID], rules: Iterable[str]) -> None:
    """Read every state of these subjects for these rules in one query (per 500 subjects)."""
    cache = _cache(session)
    wanted_rules = list(rules)
    todo = sorted({(s, r) for s in subject_ids for r in wanted_rules} - cache.complete)
    subjects = sorted({s for s, _ in todo})
    for start in range(0, len(subjects), CHUNK):
        chunk = subjects[start:start + CHUNK]
        query = select(RuleState).where(RuleState.subject_id.in_(chunk),
                                        RuleState.rule.in_(wanted_rules))
        for row in session.scalars(query):
            cache.rows.setdefault((row.subject_id, row.rule, row.key), row)
    cache.complete.update(todo)


def _row(session: Session, key: StateKey) -> RuleState | None:
    cache = _cache(session)
    if key in cache.rows:
        return cache.rows[key]
    if (key[0], key[1]) in cache.complete:
        return None
    row = session.get(RuleState, key)
    cache.rows[key] = row
    return row


def load(session: Session, *, subject_id: uuid.UUID, rule: str, key: str) -> dict[str, Any]:
    row = _row(session, (subject_id, rule, key))
    return dict(row.data) if row else {}


def save(
    session: Session, *, subject_id: uuid.UUID, rule: str, key: str, data: dict[str, Any],
    now: datetime,
) -> None:
    row = _row(session, (subject_id, rule, key))
    if row is None:
        row = RuleState(subject_id=subject_id, rule=rule, key=key, data=data, updated_at=now)
        session.add(row)
        _cache(session).rows[(subject_id, rule, key)] = row
    else:
        row.data, row.updated_at = data, now


def all_for(session: Session, *, subject_id: uuid.UUID, rule: str) -> list[RuleState]:
    cache = _cache(session)
    if (subject_id, rule) not in cache.complete:
        preload(session, subject_ids=[subject_id], rules=[rule])
    return [
        row for (subject, name, _), row in cache.rows.items()
        if subject == subject_id and name == rule and row is not None
    ]


def unprocessed(
    session: Session, *, device_id: uuid.UUID, seqs: list[int], now: datetime
) -> set[int]:
    """The seqs not taken before; marks them taken (in the caller's transaction)."""
    return unprocessed_many(session, items=[(device_id, s) for s in seqs], now=now).get(
        device_id, set()
    )


def unprocessed_many(
    session: Session, *, items: Collection[tuple[uuid.UUID, int]], now: datetime
) -> dict[uuid.UUID, set[int]]:
    """The (device, seq) items not taken before, per device; marks them taken. One
    ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: the rows it returns are the fresh
    ones, however many devices the batch holds (PostgreSQL: one statement over two
    arrays, the same text every time; SQLite: multi-row inserts)."""
    wanted = sorted(set(items))
    if not wanted:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(TAKE_ON_POSTGRESQL, {
            "devices": [d for d, _ in wanted], "seqs": [s for _, s in wanted], "now": now,
        })
    else:
        table = cast(Table, ProcessedItem.__table__)
        statement = sqlite.insert(table).on_conflict_do_nothing().returning(
            table.c.device_id, table.c.seq)
        found = session.execute(
            statement, [{"device_id": d, "seq": s, "processed_at": now} for d, s in wanted])
    by_device: dict[uuid.UUID, set[int]] = {}
    for device, seq in found:
        by_device.setdefault(device, set()).add(seq)
    return by_device
