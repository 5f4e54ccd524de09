"""The purge: delete everything that is due, everywhere it lives, and certify it.

For each data class (in the order of ``schedules.DATA_CLASSES``) the subjects
whose retention event is older than the class's period, and who are not under a
legal hold, are purged in chunks; each chunk is one transaction holding the
deletions and their certificate, so a certificate exists exactly when the
deletion committed. Bus messages are purged afterwards from a queue written in
the same transactions (:func:`drain_bus_purges`), so a crash loses no purge.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from openem.bus.base import Bus
from openem.checkins import retention as checkin_retention
from openem.errors import Conflict, NotFound
from openem.retention import certificates, holds, purgers
from openem.retention.models import BusPurge, DeletionCertificate
from openem.retention.registry import PurgeScope, purgers_for
from openem.retention.schedules import ORDER_END, Schedule
from openem.subjects.models import Order, Subject

SUBJECTS_PER_TRANSACTION = 100

assert purgers  # the built-in purgers register on import
assert checkin_retention  # so do the check-in domain's


@dataclass
class PurgeReport:
    run_id: uuid.UUID
    certificates: list[DeletionCertificate] = field(default_factory=list)
    held_subjects: set[uuid.UUID] = field(default_factory=set)

    @property
    def held(self) -> int:
        """How many subjects had data due but are under a legal hold."""
        return len(self.held_subjects)

    def deleted(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for certificate in self.certificates:
            totals[certificate.data_class] = (
                totals.get(certificate.data_class, 0) + certificate.count
            )
        return totals


def due_subjects(session: Session, *, schedule: Schedule, now: datetime) -> list[uuid.UUID]:
    """Subjects whose last order ended (or, with no order, who were enrolled) before the cutoff."""
    last_end = (
        select(Order.subject_id, func.max(Order.ends_at).label("last_end"))
        .group_by(Order.subject_id)
        .subquery()
    )
    event = func.coalesce(last_end.c.last_end, Subject.created_at)
    query = (
        select(Subject.id)
        .outerjoin(last_end, last_end.c.subject_id == Subject.id)
        .where(event <= schedule.cutoff(now))
        .order_by(Subject.id)
    )
    return list(session.scalars(query))


def _purge_chunk(
    session: Session,
    *,
    run_id: uuid.UUID,
    schedule: Schedule,
    subject_ids: Sequence[uuid.UUID],
    now: datetime,
    data_dir: Path,
    batch_size: int,
    held: frozenset[uuid.UUID],
) -> DeletionCertificate | None:
    scope = PurgeScope(
        held=held,
        data_class=schedule.data_class,
        subject_ids=subject_ids,
        cutoff=schedule.cutoff(now),
        now=now,
        data_dir=data_dir,
        batch_size=batch_size,
    )
    deleted: list[str] = []
    for _name, purger in purgers_for(schedule.data_class):
        deleted += purger(session, scope)
    if not deleted:
        return None
    return certificates.issue(session, run_id=run_id, schedule=schedule, ids=deleted, now=now)


def run(
    sessions: sessionmaker[Session],
    *,
    schedules: dict[str, Schedule],
    now: datetime,
    data_dir: Path,
    batch_size: int = 500,
    subject_id: uuid.UUID | None = None,
) -> PurgeReport:
    """Purge what is due (only about ``subject_id`` when given); returns the certificates."""
    report = PurgeReport(run_id=uuid.uuid4())
    if subject_id is not None:
        with sessions() as session:
            if session.get(Subject, subject_id) is None:
                raise NotFound("no such subject")
            if holds.is_held(session, subject_id=subject_id, now=now):
                raise Conflict("the subject is under a legal hold: nothing was deleted")
    with sessions() as session:
        held = frozenset(holds.held_subjects(session, now=now))
    for schedule in schedules.values():
        if schedule.event == ORDER_END:
            with sessions() as session:
                due = due_subjects(session, schedule=schedule, now=now)
            if subject_id is not None:
                due = [s for s in due if s == subject_id]
            report.held_subjects.update(s for s in due if s in held)
            due = [s for s in due if s not in held]
            chunks = [
                due[i : i + SUBJECTS_PER_TRANSACTION]
                for i in range(0, len(due), SUBJECTS_PER_TRANSACTION)
            ]
        else:
            chunks = [[]] if subject_id is None else []
        for chunk in chunks:
            with sessions() as session, session.begin():
                certificate = _purge_chunk(
                    session,
                    run_id=report.run_id,
                    schedule=schedule,
                    subject_ids=chunk,
                    now=now,
                    data_dir=data_dir,
                    batch_size=batch_size,
                    held=held,
                )
            if certificate is not None:
                report.certificates.append(certificate)
    return report


def _matches(subject_id: uuid.UUID) -> Callable[[bytes], bool]:
    wanted = str(subject_id)

    def match(data: bytes) -> bool:
        try:
            return bool(json.loads(data).get("subject_id") == wanted)
        except (ValueError, AttributeError):
            return False

    return match


async def drain_bus_purges(sessions: sessionmaker[Session], bus: Bus) -> int:
    """Delete queued subjects' messages from the bus; each queue row goes once done."""
    pending = await run_in_threadpool(_queued_bus_purges, sessions)
    removed = 0
    for item in pending:
        removed += await bus.purge(item.bus_subject, match=_matches(item.subject_id))
        await run_in_threadpool(_forget_bus_purge, sessions, item.id)
    return removed


def _queued_bus_purges(sessions: sessionmaker[Session]) -> list[BusPurge]:
    with sessions() as session:
        return list(session.scalars(select(BusPurge).order_by(BusPurge.id)))


def _forget_bus_purge(sessions: sessionmaker[Session], purge_id: int) -> None:
    with sessions() as session, session.begin():
        session.execute(delete(BusPurge).where(BusPurge.id == purge_id))
