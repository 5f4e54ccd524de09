"""Background work of the rules: the bus consumers and the periodic sweep.

Started once per app process from the lifespan (``OPENEM_RULES_WORKER``), like the
outbox relay. Each message is processed in its own transaction and acked only
after it commits; a failure naks it for redelivery, which is harmless because
processing is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from openem.bus.base import Bus, Message
from openem.db.base import utcnow
from openem.db.session import transaction
from openem.ingest.service import TELEMETRY_SUBJECT
from openem.logs import get_logger
from openem.rules.checkin_rules import CHECKINS_SUBJECT
from openem.rules.config import RulesConfig
from openem.rules.partition import WHOLE, Partition
from openem.rules.service import process_checkin, process_telemetry_batch
from openem.rules.sink import AlertSink
from openem.rules.sweep import sweep
from openem.rules.zone_rules import ZoneIndexCache

log = get_logger(__name__)
Clock = Callable[[], datetime]
ACK_WAIT_S = 60.0


class RulesWorker:
    def __init__(
        self, *, sessions: sessionmaker[Session], bus: Bus, config: RulesConfig,
        sink: AlertSink, clock: Clock = utcnow, partition: Partition = WHOLE,
    ) -> None:
        self.sessions = sessions
        self.partition = partition
        self.bus = bus
        self.sink = sink
        self.config = config
        self.clock = clock
        self.cache = ZoneIndexCache()

    def handle(self, subject: str, data: bytes) -> None:
        """Process one message in one transaction (sync: runs in a worker thread)."""
        self.handle_batch([(subject, data)])

    def handle_batch(self, messages: list[tuple[str, bytes]]) -> None:
        """Process messages in order in one transaction: all are taken, or none. A run of
        telemetry messages is taken together (bulk reads and writes, see rules.service)."""
        with transaction(self.sessions) as session:
            self.cache.refresh(session)
            telemetry: list[dict[str, Any]] = []
            for subject, data in messages:
                event = json.loads(data)
                if not self._owns(event):
                    continue
                if subject.startswith(TELEMETRY_SUBJECT + "."):
                    telemetry.append(event)
                    continue
                self._telemetry(session, telemetry)
                telemetry = []
                if subject.startswith(CHECKINS_SUBJECT + "."):
                    process_checkin(session, event=event, now=self.clock(),
                                    config=self.config, sink=self.sink)
            self._telemetry(session, telemetry)

    def _owns(self, event: dict[str, Any]) -> bool:
        """Whether this partition takes the message (the others ack it untouched)."""
        subject_id = event.get("subject_id")
        if self.partition.count == 1 or not subject_id:
            return True
        return self.partition.owns(uuid.UUID(str(subject_id)))

    def _telemetry(self, session: Session, events: list[dict[str, Any]]) -> None:
        if events:
            process_telemetry_batch(session, events=events, now=self.clock(),
                                    config=self.config, cache=self.cache, sink=self.sink)

    def sweep_once(self) -> None:
        with transaction(self.sessions) as session:
            sweep(session, now=self.clock(), config=self.config, sink=self.sink,
                  partition=self.partition)

    async def _deliver(self, messages: list[Message]) -> None:
        """Take a fetched batch in one transaction; on failure, one by one, so one bad
        message is naked alone and the rest are not held back."""
        try:
            await run_in_threadpool(self.handle_batch, [(m.subject, m.data) for m in messages])
        except Exception:
            if len(messages) > 1:
                for message in messages:
                    await self._deliver([message])
                return
            log.error("rules_message_failed", deliveries=messages[0].deliveries)
            await messages[0].nak()
            return
        for message in messages:
            await message.ack()

    async def consume(self, stop: asyncio.Event, pattern: str, durable: str) -> None:
        subscription = await self.bus.subscribe(pattern, durable=self.partition.durable(durable),
                                                ack_wait=ACK_WAIT_S)
        try:
            while not stop.is_set():
                try:
                    messages = await subscription.fetch(batch=50, timeout=0.2)
                except Exception as error:
                    log.error("rules_fetch_failed", error_type=type(error).__name__)
                    await asyncio.sleep(1.0)
                    continue
                if messages:
                    await self._deliver(messages)
        finally:
            await subscription.close()

    async def sweep_every(self, stop: asyncio.Event, interval_s: float) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
            if stop.is_set():
                return
            try:
                await run_in_threadpool(self.sweep_once)
            except Exception as error:
                log.error("rules_sweep_failed", error_type=type(error).__name__)

    def start(self, stop: asyncio.Event, *, sweep_interval_s: float) -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(self.consume(stop, f"{TELEMETRY_SUBJECT}.>", "rules-telemetry")),
            asyncio.create_task(self.consume(stop, f"{CHECKINS_SUBJECT}.>", "rules-checkins")),
            asyncio.create_task(self.sweep_every(stop, sweep_interval_s)),
        ]
