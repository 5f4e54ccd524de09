"""The audit trail as a hash chain: append under a lock, verify by walking it.

Each entry stores the hash of the entry before it (``prev_hash``) and its own
hash (SHA-256 over a canonical JSON serialisation of every field, including
``seq`` and ``prev_hash``). Changing, removing or reordering any entry breaks
the chain from that entry on; :func:`verify` names the first broken entry.

Entries are appended when the transaction that recorded them commits (the
``before_commit`` hook below), so the chain lock is held only for the commit:
on PostgreSQL by ``pg_advisory_xact_lock``; on SQLite every write transaction
already holds the database's single write lock (``BEGIN IMMEDIATE``).
Removing entries from the end of the chain leaves no gap to find: publish or
notarise the head hash that ``openem audit verify`` prints to close that hole.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, event, insert, select, text
from sqlalchemy.orm import Session

from openem.access.models import AuditAnchor, AuditEntry, AuditTruncation

GENESIS = "0" * 64
PENDING_KEY = "openem.audit.pending"
# An arbitrary, fixed 64-bit key naming "the audit chain" among advisory locks.
ADVISORY_LOCK_KEY = 0x0E4A_0D17
HASHED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_role",
    "actor_organisation_id",
    "action",
    "record_type",
    "record_id",
    "subject_id",
    "purpose",
    "purpose_detail",
    "outcome",
    "source",
    "prev_hash",
)


def canonical(entry: AuditEntry) -> bytes:
    """Stable bytes for an entry: sorted keys, no whitespace, UTC times, ids as strings."""
    values: dict[str, Any] = {}
    for name in HASHED_FIELDS:
        value = getattr(entry, name)
        if name == "at":
            value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif value is not None and not isinstance(value, (int, str)):
            value = str(value)
        values[name] = value
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def add_pending(session: Session, entry: AuditEntry) -> None:
    session.info.setdefault(PENDING_KEY, []).append(entry)


def pending(session: Session) -> list[AuditEntry]:
    return list(session.info.get(PENDING_KEY, ()))


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})


def append_pending(session: Session) -> None:
    """Chain and insert the entries recorded in this transaction (called before commit)."""
    entries: list[AuditEntry] = session.info.pop(PENDING_KEY, [])
    if not entries:
        return
    _lock(session)
    tail = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, prev = (tail[0], tail[1]) if tail else anchor(session)
    for entry in entries:
        seq += 1
        entry.seq = seq
        entry.prev_hash = prev
        entry.hash = prev = entry_hash(entry)
        session.add(entry)
    session.flush()


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    append_pending(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.checked} entries, head {self.head_hash}"
        return f"audit chain broken at entry {self.first_bad_seq}: {self.problem}"


def _walk(session: Session, batch: int) -> Iterator[AuditEntry]:
    after = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.seq > after)
                .order_by(AuditEntry.seq)
                .limit(batch)
            )
        )
        if not rows:
            return
        yield from rows
        after = rows[-1].seq
        for row in rows:
            session.expunge(row)


def anchor(session: Session) -> tuple[int, str]:
    """Seq and hash the chain continues from: the genesis, or the last entry retention removed."""
    row = session.get(AuditAnchor, 1)
    return (row.seq, row.hash) if row is not None else (0, GENESIS)


def verify(session: Session, *, batch: int = 5000) -> Verification:
    """Walk the chain in ``seq`` order; report the first entry that does not fit."""
    prev, checked = anchor(session)[1], 0
    for entry in _walk(session, batch):
        if entry.prev_hash != prev:
            moved = session.scalar(select(AuditEntry.seq).where(AuditEntry.hash == entry.prev_hash))
            problem = (
                f"the entries were reordered (its predecessor is now entry {moved})"
                if moved is not None
                else "an entry before it was removed"
            )
            return Verification(False, checked, prev, entry.seq, problem)
        if entry_hash(entry) != entry.hash:
            return Verification(
                False, checked, prev, entry.seq, "its contents were altered after it was written"
            )
        prev, checked = entry.hash, checked + 1
    return Verification(True, checked, prev)


def truncate_oldest(
    session: Session, *, cutoff: datetime, keep: Callable[[AuditEntry], bool], now: datetime,
    batch: int = 500,
) -> list[int]:
    """Remove the chain's oldest entries written at or before ``cutoff``, stopping at the first
    one to ``keep``: only a prefix goes, and the anchor records where the rest continues from.
    """
    _lock(session)
    removable: list[AuditEntry] = []
    for entry in _walk(session, batch):
        if entry.at > cutoff or keep(entry):
            break
        removable.append(entry)
    if not removable:
        return []
    seqs = [entry.seq for entry in removable]
    _allow_truncation(session)
    for start in range(0, len(seqs), batch):
        session.execute(delete(AuditEntry).where(AuditEntry.seq.in_(seqs[start : start + batch])))
    _forbid_truncation(session)
    last = removable[-1]
    row = session.get(AuditAnchor, 1) or AuditAnchor(id=1, seq=0, hash=GENESIS, truncated_at=now)
    row.seq, row.hash, row.truncated_at = last.seq, last.hash, now
    session.add(row)
    return seqs


def _allow_truncation(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL openem.audit_truncation = 'on'"))
    else:
        session.execute(insert(AuditTruncation).values(token="retention"))


def _forbid_truncation(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL openem.audit_truncation = 'off'"))
    else:
        session.execute(delete(AuditTruncation))
