"""Proportionality at ingest: a fix the order's monitoring mode does not allow is never stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openem.bus.outbox import OutboxMessage
from openem.devices.models import Device
from openem.ingest.models import DeviceEvent
from openem.locations.models import Position
from openem.subjects import modes
from openem.subjects.models import Order
from tests.conftest import bearer
from tests.support import factories
from tests.support.devices import TestDevice, pair, send

LONDON = ZoneInfo("Europe/London")


def _monitored(client: TestClient, tokens: dict[str, str], **order: Any) -> tuple[str, TestDevice]:
    caseworker, admin = bearer(tokens["caseworker"]), bearer(tokens["admin"])
    subject_id = client.post(
        "/api/v1/subjects", json=factories.subject_data(), headers=caseworker
    ).json()["id"]
    created = client.post(
        "/api/v1/orders", json=factories.order_data(subject_id, **order), headers=caseworker
    )
    assert created.status_code == 201, created.text
    device = pair(client, tokens["admin"])
    assigned = client.post(
        f"/api/v1/devices/{device.device_id}/assignment",
        json={"order_id": created.json()["id"]},
        headers=admin,
    )
    assert assigned.status_code == 200, assigned.text
    return subject_id, device


def _monitored_since(sessions: sessionmaker[Session], since: datetime) -> None:
    """The order started, and its device was put on it, at ``since``."""
    with sessions() as session, session.begin():
        session.scalars(select(Order)).one().starts_at = since
        session.scalars(select(Device)).one().serving_since = since


def _stored_fixes(sessions: sessionmaker[Session]) -> list[datetime]:
    with sessions() as session:
        return list(session.scalars(select(Position.fixed_at).order_by(Position.fixed_at)))


def _queued_positions(client: TestClient, sessions: sessionmaker[Session]) -> int:
    """Fixes sent on to the bus: still in the outbox or already relayed (once per msg_id)."""
    with sessions() as session:
        rows = session.execute(select(OutboxMessage.msg_id, OutboxMessage.payload)).all()
    messages = {row.msg_id: row.payload for row in rows}
    bus = client.app.state.bus
    messages |= {m.msg_id: m.data for m in bus.log if m.data}
    return sum(
        1
        for payload in messages.values()
        for item in json.loads(payload).get("items", [])
        if item["type"] == "position"
    )


def test_checkin_only_order_never_stores_a_telemetry_fix(
    client: TestClient, staff_tokens: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    _, device = _monitored(client, staff_tokens, monitoring_mode="checkin_only")
    items = [device.position(), device.item("battery", level=50, charging=False)]
    response = send(client, device, items)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dropped"] == [{"seq": 1, "reason": modes.DROPPED_BY_MODE}]
    assert body["accepted"] == [2]
    assert _stored_fixes(sessions) == []
    assert _queued_positions(client, sessions) == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DeviceEvent)) == 1
    again = send(client, device, [device.position(seq=1)])  # a re-send is dropped again
    assert again.json()["dropped"] == [{"seq": 1, "reason": modes.DROPPED_BY_MODE}]
    assert _stored_fixes(sessions) == []


def test_curfew_only_order_keeps_fixes_inside_curfew_hours_only(
    client: TestClient, staff_tokens: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    _, device = _monitored(
        client,
        staff_tokens,
        monitoring_mode="curfew_only",
        curfew_start="19:00",
        curfew_end="07:00",
    )
    day = (datetime.now(LONDON) - timedelta(days=2)).date()
    _monitored_since(sessions, datetime.now(UTC) - timedelta(days=3))
    outside = datetime.combine(day, time(12, 0), LONDON)
    inside = datetime.combine(day, time(23, 0), LONDON)
    early = datetime.combine(day + timedelta(days=1), time(6, 30), LONDON)
    items = [device.position(at=outside), device.position(at=inside), device.position(at=early)]
    body = send(client, device, items).json()
    assert body["dropped"] == [{"seq": 1, "reason": modes.DROPPED_BY_MODE}]
    assert sorted(body["accepted"]) == [2, 3]
    assert _stored_fixes(sessions) == [inside.astimezone(UTC), early.astimezone(UTC)]
    assert _queued_positions(client, sessions) == 2


def test_full_trail_order_keeps_every_fix(
    client: TestClient, staff_tokens: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    _, device = _monitored(client, staff_tokens)
    assert send(client, device, [device.position(), device.position()]).json()["dropped"] == []
    assert len(_stored_fixes(sessions)) == 2


def test_curfew_hook_can_be_replaced_by_the_zones_domain(
    client: TestClient, staff_tokens: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    _, device = _monitored(client, staff_tokens, monitoring_mode="curfew_only")
    asked: list[datetime] = []

    def zones_curfew(session: Session, *, order: Order, at: datetime) -> bool:
        asked.append(at)
        return True

    default = modes.curfew_check()
    modes.set_curfew_check(zones_curfew)
    try:
        body = send(client, device, [device.position()]).json()
    finally:
        modes.set_curfew_check(default)
    assert body["accepted"] == [1] and len(asked) == 1
    assert len(_stored_fixes(sessions)) == 1


@pytest.mark.parametrize(
    ("start", "end", "local", "inside"),
    [
        (time(19), time(7), time(23, 30), True),
        (time(19), time(7), time(6, 59), True),
        (time(19), time(7), time(7, 0), False),
        (time(19), time(7), time(12), False),
        (time(1), time(5), time(3), True),
        (time(1), time(5), time(5), False),
    ],
)
def test_default_curfew_hours_in_local_time(
    start: time, end: time, local: time, inside: bool
) -> None:
    order = Order(
        subject_id=None, monitoring_mode="curfew_only", curfew_start=start, curfew_end=end
    )

    class NoSubject:
        def get(self, *_: object) -> None:
            return None

    at = datetime.combine(datetime(2026, 7, 1).date(), local, LONDON)
    assert modes.order_curfew_active(NoSubject(), order=order, at=at) is inside  # type: ignore[arg-type]


def test_no_fix_taken_outside_the_orders_term_is_stored(
    client: TestClient, staff_tokens: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    _, device = _monitored(client, staff_tokens)
    now = datetime.now(UTC)
    started, ended = now - timedelta(hours=1), now - timedelta(minutes=10)
    _monitored_since(sessions, now - timedelta(hours=2))  # fitted an hour before the start
    with sessions() as session, session.begin():
        order = session.scalars(select(Order)).one()
        order.starts_at, order.ends_at = started, ended
    early, within, late = (started - timedelta(minutes=5), ended - timedelta(minutes=5),
                           ended + timedelta(minutes=5))
    items = [device.position(at=early), device.position(at=within), device.position(at=late),
             device.item("battery", at=early, level=50, charging=False)]
    response = send(client, device, items)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == [2, 4]
    assert body["dropped"] == [{"seq": 1, "reason": modes.ORDER_NOT_STARTED},
                               {"seq": 3, "reason": modes.ORDER_ENDED}]
    assert [at.replace(microsecond=0) for at in _stored_fixes(sessions)] == [
        within.replace(microsecond=0)
    ]
    assert _queued_positions(client, sessions) == 1
