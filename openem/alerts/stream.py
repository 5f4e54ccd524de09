"""Live alert changes for the dashboard, as server-sent events.

One hub per process follows the append-only ``alert_events`` table (so it sees
changes made by any process) and hands each change to the subscribers allowed to
see the alert's subject: the same rule as the alert list.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from openem.access import caseload
from openem.access.principal import Principal
from openem.alerts.models import Alert, AlertEvent
from openem.alerts.schemas import AlertOut
from openem.logs import get_logger
from openem.subjects.models import Subject

log = get_logger(__name__)
QUEUE_SIZE = 1_000
BATCH = 500
KEEPALIVE_S = 15.0
# PostgreSQL hands out ids before commit, so a lower id can become visible after a
# higher one: every poll looks this many ids back and skips what it already sent.
LOOKBACK_IDS = 1_000


@dataclass(eq=False)
class Subscriber:
    principal: Principal
    queue: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )


class AlertHub:
    def __init__(self, sessions: sessionmaker[Session], *, poll_s: float) -> None:
        self._sessions = sessions
        self._poll_s = poll_s
        self._subscribers: set[Subscriber] = set()
        self._cursor: int | None = None
        self._floor = 0
        self._sent: set[int] = set()

    def _latest(self) -> int:
        with self._sessions() as session:
            return int(session.scalar(select(func.max(AlertEvent.id))) or 0)

    def _changes(
        self, *, low: int, cursor: int, sent: set[int]
    ) -> list[tuple[int, dict[str, Any], str | None]]:
        with self._sessions() as session:
            window = select(AlertEvent.id).where(AlertEvent.id > low, AlertEvent.id <= cursor)
            missed = [i for i in session.scalars(window) if i not in sent]
            rows = session.execute(
                select(AlertEvent, Alert, Subject.caseload_team)
                .join(Alert, Alert.id == AlertEvent.alert_id)
                .join(Subject, Subject.id == Alert.subject_id)
                .where(or_(AlertEvent.id > cursor, AlertEvent.id.in_(missed)))
                .order_by(AlertEvent.id)
                .limit(BATCH)
            ).all()
            return [
                (
                    event.id,
                    {
                        "event_id": event.id,
                        "action": event.action,
                        "at": event.at.isoformat(),
                        "alert": AlertOut.model_validate(alert).model_dump(mode="json"),
                    },
                    team,
                )
                for event, alert, team in rows
            ]

    @contextlib.asynccontextmanager
    async def subscribe(self, principal: Principal) -> AsyncIterator[Subscriber]:
        if self._cursor is None:
            self._cursor = self._floor = await run_in_threadpool(self._latest)
            self._sent = set()
        subscriber = Subscriber(principal)
        self._subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)

    async def poll_once(self) -> int:
        if not self._subscribers or self._cursor is None:
            self._cursor = None
            return 0
        low = max(self._floor, self._cursor - LOOKBACK_IDS)
        self._sent = {i for i in self._sent if i > low}
        changes = await run_in_threadpool(
            partial(self._changes, low=low, cursor=self._cursor, sent=self._sent)
        )
        fresh = 0
        for event_id, payload, team in changes:
            if event_id in self._sent:
                continue
            self._sent.add(event_id)
            self._cursor = max(self._cursor, event_id)
            fresh += 1
            for subscriber in list(self._subscribers):
                if not caseload.allows_subject(subscriber.principal, caseload_team=team):
                    continue
                try:
                    subscriber.queue.put_nowait(payload)
                except asyncio.QueueFull:
                    self._subscribers.discard(subscriber)
                    with contextlib.suppress(asyncio.QueueFull):
                        subscriber.queue.get_nowait()
                        subscriber.queue.put_nowait(None)
        return fresh

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll_once()
            except Exception as error:
                log.error("alert_stream_poll_failed", error_type=type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._poll_s)


def sse(event: str, data: dict[str, Any], *, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
