"""Transactional outbox: events are written with the data they describe, then relayed.

A crash between commit and publish loses nothing: the relay publishes every
row still in the table, with a stable message id so the bus stores it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from prometheus_client import Counter, Gauge
from sqlalchemy import (
    BigInteger,
    Integer,
    LargeBinary,
    String,
    Table,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from starlette.concurrency import run_in_threadpool

from openem.bus.base import Bus
from openem.db.base import Base, utcnow
from openem.db.bulk import delete_by_key, insert_all, rows_after
from openem.db.exclusive import DatabaseLock
from openem.db.session import read_only
from openem.logs import get_logger

log = get_logger(__name__)
PUBLISHED = Counter("openem_outbox_published_total", "Outbox messages published to the bus")
RELAY_FAILURES = Counter("openem_outbox_relay_failures_total", "Outbox relay rounds that failed")
RELAYING = Gauge(
    "openem_outbox_relaying", "1 in the one process that relays the outbox, 0 in the others"
)
RELAY_LOCK = "outbox-relay"


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    subject: Mapped[str] = mapped_column(String(128))
    msg_id: Mapped[str] = mapped_column(String(128))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An event to publish: a JSON-ready dict, or its JSON already encoded."""

    subject: str
    msg_id: str
    event: dict[str, Any] | bytes


def enqueue(session: Session, *, subject: str, msg_id: str, event: dict[str, Any]) -> None:
    enqueue_many(session, [OutboxEntry(subject=subject, msg_id=msg_id, event=event)])


def enqueue_many(session: Session, entries: list[OutboxEntry]) -> None:
    """Queue events in the caller's transaction, in list order."""
    if not entries:
        return
    now = utcnow()
    insert_all(
        session,
        OUTBOX,
        [
            {
                "subject": entry.subject,
                "msg_id": entry.msg_id,
                "payload": _payload(entry.event),
                "created_at": now,
            }
            for entry in entries
        ],
    )


def _payload(event: dict[str, Any] | bytes) -> bytes:
    if isinstance(event, bytes):
        return event
    return json.dumps(event, separators=(",", ":"), default=str).encode()


class _PendingMessage(NamedTuple):
    id: int
    subject: str
    msg_id: str
    payload: bytes


def _pending(
    sessions: sessionmaker[Session], limit: int, after: int = 0
) -> list[_PendingMessage]:
    """The oldest pending messages after id ``after`` (a read: on SQLite it does not take
    the writer lock), read by the driver: the relay reads many times a second."""
    with read_only(sessions) as connection:
        rows = rows_after(connection, OUTBOX, "id", after, limit,
                          ("id", "subject", "msg_id", "payload"))
    return [_PendingMessage(key, subject, msg_id, bytes(payload))
            for key, subject, msg_id, payload in rows]


def _forget(sessions: sessionmaker[Session], ids: list[int]) -> None:
    """Delete what was published, as one statement with one parameter however many."""
    with sessions() as session, session.begin():
        delete_by_key(session, OUTBOX, "id", ids)


async def relay_once(sessions: sessionmaker[Session], bus: Bus, *, limit: int = 500) -> int:
    """Publish what is pending, oldest first, and delete it; returns how many were published."""
    relay = _Relay(sessions, bus, forget_every=0.0)
    published = await relay.publish(limit)
    await relay.forget()
    return published


class _Relay:
    """Publishes as messages arrive, but deletes what it published in one transaction
    every ``forget_every`` seconds (or when idle), not one per round: under load a
    delete per round would be a second write transaction for every one of ingest's.

    Between deletes it reads on from the last id it published. On PostgreSQL a lower
    id can commit after a higher one has been read; the read after each delete starts
    again from the oldest row left, so such a message waits at most one interval.
    After a crash, published rows not yet deleted are published again under the same
    message id, which the bus stores once."""

    def __init__(self, sessions: sessionmaker[Session], bus: Bus, forget_every: float) -> None:
        self.sessions, self.bus, self.forget_every = sessions, bus, forget_every
        self.published: list[int] = []
        self.forgotten_at = time.monotonic()

    async def publish(self, limit: int = 500) -> int:
        after = self.published[-1] if self.published else 0
        pending = await run_in_threadpool(_pending, self.sessions, limit, after)
        for message in pending:
            await self.bus.publish(message.subject, message.payload, msg_id=message.msg_id)
            self.published.append(message.id)
            PUBLISHED.inc()
        if self.published and (
            not pending or time.monotonic() - self.forgotten_at >= self.forget_every
        ):
            await self.forget()
        return len(pending)

    async def forget(self) -> None:
        if self.published:
            await run_in_threadpool(_forget, self.sessions, self.published)
        self.published, self.forgotten_at = [], time.monotonic()


async def relay_until(
    stop: asyncio.Event,
    sessions: sessionmaker[Session],
    bus: Bus,
    *,
    idle_sleep: float = 0.05,
    forget_every: float = 0.5,
    takeover_s: float = 1.0,
) -> None:
    """Relay until ``stop`` is set, in the one process per database that holds the relay's
    lock: with every API process relaying, each message was read, published and deleted
    once per process. The others try for the lock every ``takeover_s``, so one of them
    takes over within that when the holder stops or dies. The batch in flight is always
    finished, never abandoned, and what was published is deleted before returning."""
    relay = _Relay(sessions, bus, forget_every)
    lock = DatabaseLock(sessions.kw["bind"], RELAY_LOCK)
    try:
        while not stop.is_set():
            pause = await _relay_round(relay, lock, idle_sleep, takeover_s)
            if pause:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
        with contextlib.suppress(Exception):  # what is left is published again on restart
            await relay.forget()
    finally:
        RELAYING.set(0)
        await run_in_threadpool(lock.release)


async def _relay_round(
    relay: _Relay, lock: DatabaseLock, idle_sleep: float, takeover_s: float
) -> float:
    """Publish what is pending if this process holds the lock; returns how long to wait
    before the next round (0: at once, there may be more)."""
    if lock.check_due() and not await run_in_threadpool(lock.hold):
        RELAYING.set(0)
        return takeover_s
    RELAYING.set(1)
    try:
        published = await relay.publish()
    except Exception as error:
        RELAY_FAILURES.inc()
        log.error("outbox_relay_failed", error_type=type(error).__name__)
        return max(idle_sleep, 1.0)
    return 0.0 if published else idle_sleep
