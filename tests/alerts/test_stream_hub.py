"""The stream hub sees an alert event that commits after a later one, exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.principal import SYSTEM
from openem.alerts import raising
from openem.alerts.models import AlertEvent
from openem.alerts.stream import AlertHub
from openem.alerts.types import AlertType
from openem.db.session import transaction
from tests.support import factories

NOW = datetime.now(UTC)


def test_an_event_with_a_lower_id_committed_late_is_still_delivered_once(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        subject = factories.subject(session)
        alert, _ = raising.raise_alert(session, subject_id=subject.id,
                                       alert_type=AlertType.case_tamper, key="k",
                                       started_at=NOW, now=NOW)
        alert_id, subject_id = alert.id, subject.id

    def event(event_id: int) -> None:
        with transaction(sessions) as session:
            session.add(AlertEvent(id=event_id, alert_id=alert_id, subject_id=subject_id,
                                   action="updated", at=NOW, detail={}))

    async def scenario() -> list[int]:
        hub = AlertHub(sessions, poll_s=0.01)
        received: list[int] = []
        async with hub.subscribe(SYSTEM) as subscriber:
            event(100)
            await hub.poll_once()
            event(50)
            await hub.poll_once()
            await hub.poll_once()
            while not subscriber.queue.empty():
                payload = subscriber.queue.get_nowait()
                assert payload is not None
                received.append(payload["event_id"])
        return received

    assert asyncio.run(scenario()) == [100, 50]
    with sessions() as session:
        assert len(list(session.scalars(select(AlertEvent.id)))) == 3
