"""A wearer whose telemetry goes through the real ingest and the real rules, on a test clock.

Ingest writes each batch to the outbox exactly as in production; the harness takes
the outbox rows and hands them to the rules worker's handler, as the relay and
the bus would, with `now` under the test's control.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.principal import SYSTEM
from openem.alerts.models import Alert, AlertEvidence
from openem.alerts.sink import AlertsSink
from openem.bus.memory import MemoryBus
from openem.bus.outbox import OutboxMessage
from openem.db.session import transaction
from openem.devices import service as devices_service
from openem.devices.models import Device, InboxItem
from openem.devices.schemas import DeviceCreate
from openem.ingest.items import AnyItem, TelemetryItem
from openem.ingest.service import ingest
from openem.rules.config import RulesConfig
from openem.rules.tasks import RulesWorker
from openem.zones import service as zones_service
from openem.zones.schemas import ZoneCreate
from tests.support import factories

HOME = (51.5000, -0.1200)
METRES_PER_DEG_LAT = 111_200.0
_serials = itertools.count(1)
_items: TypeAdapter[AnyItem] = TypeAdapter(TelemetryItem)


def north_of(point: tuple[float, float], metres: float) -> tuple[float, float]:
    return point[0] + metres / METRES_PER_DEG_LAT, point[1]


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Wearer:
    sessions: sessionmaker[Session]
    subject_id: uuid.UUID
    device_id: uuid.UUID
    clock: Clock
    worker: RulesWorker
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    delivered: list[tuple[str, bytes]] = field(default_factory=list)

    def fix(
        self, at: datetime, point: tuple[float, float] = HOME, accuracy_m: float = 10.0
    ) -> dict[str, Any]:
        return {"type": "position", "seq": next(self.seq), "ts": at.isoformat(),
                "lat": point[0], "lon": point[1], "accuracy_m": accuracy_m}

    def item(self, kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "seq": next(self.seq), "ts": at.isoformat()} | fields

    def send(self, items: list[dict[str, Any]], *, received_at: datetime | None = None) -> None:
        """Ingest a batch at `received_at` (default: the clock) and run the rules on it."""
        for subject, payload in self.ingest(items, received_at=received_at):
            self.delivered.append((subject, payload))
            self.worker.handle(subject, payload)

    def ingest(
        self, items: list[dict[str, Any]], *, received_at: datetime | None = None
    ) -> list[tuple[str, bytes]]:
        """Ingest a batch and return the bus messages it made, for the test to deliver."""
        if received_at is not None:
            self.clock.now = received_at
        with transaction(self.sessions) as session:
            device = session.get(Device, self.device_id)
            assert device is not None
            parsed = [_items.validate_python(item) for item in items]
            ingest(session, device=device, items=parsed, rejected=[], now=self.clock.now)
            messages = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
            batch = [(m.subject, m.payload) for m in messages]
            session.execute(delete(OutboxMessage))
        return batch

    def redeliver_last(self) -> None:
        subject, payload = self.delivered[-1]
        self.worker.handle(subject, payload)

    def checkin(self, outcome: str, at: datetime, decision_id: str | None = None) -> str:
        decision_id = decision_id or f"decision-{uuid.uuid4().hex[:12]}"
        event = {"subject_id": str(self.subject_id), "prompt_id": str(uuid.uuid4()),
                 "outcome": outcome, "reason": "no_match" if outcome == "failed" else None,
                 "decision_id": decision_id, "at": at.isoformat()}
        self.clock.now = max(self.clock.now, at)
        self.worker.handle(f"openem.checkins.{self.subject_id}", json.dumps(event).encode())
        return decision_id

    def sweep(self, at: datetime) -> None:
        self.clock.now = at
        self.worker.sweep_once()

    def take_off(self, *, recorded_at: datetime, removed_at: datetime | None = None) -> None:
        """The device leaves the subject at `recorded_at`: a technician's recorded removal
        (as of `removed_at`), or without one, handed back."""
        self.clock.now = recorded_at
        with transaction(self.sessions) as session:
            if removed_at is None:
                devices_service.unassign_device(session, principal=SYSTEM,
                                                device_id=self.device_id, now=recorded_at)
            else:
                devices_service.record_removal(session, principal=SYSTEM, device_id=self.device_id,
                                               now=recorded_at, removed_at=removed_at)

    def zone(self, *, now: datetime, **data: Any) -> uuid.UUID:
        with transaction(self.sessions) as session:
            row = zones_service.create_zone(
                session, principal=SYSTEM, subject_id=self.subject_id,
                data=ZoneCreate.model_validate(data), now=now,
            )
            return row.zone_id

    def alerts(self) -> list[Alert]:
        with self.sessions() as session:
            query = select(Alert).where(Alert.subject_id == self.subject_id)
            return list(session.scalars(query.order_by(Alert.started_at, Alert.raised_at)))

    def evidence(self, alert: Alert) -> list[AlertEvidence]:
        with self.sessions() as session:
            query = select(AlertEvidence).where(AlertEvidence.alert_id == alert.id)
            return list(session.scalars(query))

    def inbox(self) -> list[InboxItem]:
        with self.sessions() as session:
            query = select(InboxItem).where(InboxItem.device_id == self.device_id)
            return list(session.scalars(query.order_by(InboxItem.id)))


def wearer(
    sessions: sessionmaker[Session],
    *,
    start: datetime,
    config: RulesConfig | None = None,
    timezone: str = "Europe/London",
    risk_level: str = "medium",
    caseload_team: str = "north",
    language: str = "en",
) -> Wearer:
    """A subject with an order and an assigned smartwatch, as of `start`."""
    with transaction(sessions) as session:
        subject = factories.subject(session, timezone=timezone, risk_level=risk_level,
                                    caseload_team=caseload_team, language=language)
        order = factories.order(session, subject.id, starts_at=start.isoformat(),
                                ends_at=(start + timedelta(days=180)).isoformat())
        device = devices_service.register_device(
            session, principal=SYSTEM,
            data=DeviceCreate(kind="smartwatch", serial=f"RULES-{next(_serials)}"),
        )
        devices_service.assign_device(session, principal=SYSTEM, device_id=device.id,
                                      order_id=order.id, now=start)
        device.updated_at = start
        subject_id, device_id = subject.id, device.id
    clock = Clock(start)
    worker = RulesWorker(sessions=sessions, bus=MemoryBus(), config=config or RulesConfig(),
                         sink=AlertsSink(), clock=clock)
    return Wearer(sessions, subject_id, device_id, clock, worker)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
