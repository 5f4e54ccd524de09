"""Reading and writing rule state rows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from openem.rules.models import ProcessedItem, RuleState


def load(session: Session, *, subject_id: uuid.UUID, rule: str, key: str) -> dict[str, Any]:
    row = session.get(RuleState, (subject_id, rule, key))
    return dict(row.data) if row else {}


def save(
    session: Session, *, subject_id: uuid.UUID, rule: str, key: str, data: dict[str, Any],
    now: datetime,
) -> None:
    row = session.get(RuleState, (subject_id, rule, key))
    if row is None:
        session.add(RuleState(subject_id=subject_id, rule=rule, key=key, data=data, updated_at=now))
    else:
        row.data, row.updated_at = data, now


def all_for(session: Session, *, subject_id: uuid.UUID, rule: str) -> list[RuleState]:
    query = select(RuleState).where(RuleState.subject_id == subject_id, RuleState.rule == rule)
    return list(session.scalars(query))


def unprocessed(
    session: Session, *, device_id: uuid.UUID, seqs: list[int], now: datetime
) -> set[int]:
    """The seqs not taken before; marks them taken (in the caller's transaction)."""
    if not seqs:
        return set()
    done = set(
        session.scalars(
            select(ProcessedItem.seq).where(
                ProcessedItem.device_id == device_id, ProcessedItem.seq.in_(seqs)
            )
        )
    )
    fresh = set(seqs) - done
    if fresh:
        session.execute(
            insert(ProcessedItem),
            [{"device_id": device_id, "seq": s, "processed_at": now} for s in sorted(fresh)],
        )
    return fresh
