"""A device serves one order at a time; once it is taken off, nothing it sends is the subject's."""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import AuditEntry
from openem.access.principal import SYSTEM
from openem.bus.outbox import OutboxMessage
from openem.db.session import transaction
from openem.devices import service as devices_service
from openem.devices.models import DeviceAssignment, DeviceHealth
from openem.devices.schemas import DeviceCreate
from openem.errors import Invalid
from openem.ingest.models import DeviceEvent
from openem.ingest.service import BEFORE_ASSIGNMENT
from openem.locations.models import Position
from tests.conftest import bearer
from tests.support import factories
from tests.support.devices import TestDevice, pair, register, send


@pytest.fixture
def admin(staff_tokens: dict[str, str]) -> dict[str, str]:
    return bearer(staff_tokens["admin"])


def _order(client: TestClient, tokens: dict[str, str], **overrides: Any) -> dict[str, Any]:
    caseworker = bearer(tokens["caseworker"])
    subject = client.post("/api/v1/subjects", json=factories.subject_data(), headers=caseworker)
    assert subject.status_code == 201, subject.text
    order = client.post(
        "/api/v1/orders", json=factories.order_data(subject.json()["id"], **overrides),
        headers=caseworker,
    )
    assert order.status_code == 201, order.text
    return order.json()  # type: ignore[no-any-return]


def _assigned(client: TestClient, tokens: dict[str, str]) -> tuple[dict[str, Any], TestDevice]:
    order = _order(client, tokens)
    device = pair(client, tokens["admin"])
    assigned = client.post(
        f"/api/v1/devices/{device.device_id}/assignment",
        json={"order_id": order["id"]},
        headers=bearer(tokens["admin"]),
    )
    assert assigned.status_code == 200, assigned.text
    assert send(client, device, [device.position()]).status_code == 200
    return order, device


def _fitted(
    client: TestClient, tokens: dict[str, str], *, ago: timedelta
) -> tuple[dict[str, Any], TestDevice]:
    now = datetime.now(UTC)
    order = _order(client, tokens, starts_at=(now - timedelta(days=1)).isoformat())
    device = pair(client, tokens["admin"])
    assigned = client.post(f"/api/v1/devices/{device.device_id}/assignment",
                           json={"order_id": order["id"], "fitted_at": (now - ago).isoformat()},
                           headers=bearer(tokens["admin"]))
    assert assigned.status_code == 200, assigned.text
    assert datetime.fromisoformat(assigned.json()["serving_since"]) == now - ago
    return order, device


def _assignments(sessions: sessionmaker[Session], device: TestDevice) -> list[DeviceAssignment]:
    with sessions() as session:
        query = select(DeviceAssignment).where(
            DeviceAssignment.device_id == uuid.UUID(device.device_id)
        )
        return list(session.scalars(query.order_by(DeviceAssignment.assigned_at)))


def _actions(sessions: sessionmaker[Session], device: TestDevice) -> list[str]:
    with sessions() as session:
        query = select(AuditEntry.action).where(AuditEntry.record_id == device.device_id)
        return list(session.scalars(query.order_by(AuditEntry.seq)))


def test_unassigning_a_device_closes_its_assignment_and_frees_it_for_another_order(
    client: TestClient, staff_tokens: dict[str, str], admin: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    order, device = _assigned(client, staff_tokens)
    response = client.delete(f"/api/v1/devices/{device.device_id}/assignment", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["state"], body["order_id"], body["subject_id"]) == ("paired", None, None)
    [closed] = _assignments(sessions, device)
    assert str(closed.order_id) == order["id"]
    assert closed.unassigned_at is not None
    assert _actions(sessions, device)[-1] == "device.unassign"
    with sessions() as session:
        health = session.get(DeviceHealth, uuid.UUID(device.device_id))
        assert health is not None and health.subject_id is None

    other = _order(client, staff_tokens)
    again = client.post(f"/api/v1/devices/{device.device_id}/assignment",
                        json={"order_id": other["id"]}, headers=admin)
    assert again.status_code == 200, again.text
    assert again.json()["subject_id"] == other["subject_id"]
    assert [a.unassigned_at is None for a in _assignments(sessions, device)] == [False, True]


def test_what_a_device_sends_after_it_is_unassigned_is_nobodys(
    client: TestClient, staff_tokens: dict[str, str], admin: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    order, device = _assigned(client, staff_tokens)
    client.delete(f"/api/v1/devices/{device.device_id}/assignment", headers=admin)
    response = send(client, device, [device.position()])
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == [2]
    with sessions() as session:
        owners = session.execute(
            select(Position.seq, Position.subject_id, Position.order_id).order_by(Position.seq)
        ).all()
    assert [(seq, str(s), str(o)) for seq, s, o in owners[:1]] == [
        (1, order["subject_id"], order["id"])
    ]
    assert owners[1] == (2, None, None)
    [message] = [m for m in _published(client, sessions)
                 if [i["seq"] for i in m["items"]] == [2]]
    assert message["subject_id"] is None


def test_what_a_reissued_device_took_for_its_last_wearer_is_theirs_not_the_new_wearers(
    client: TestClient, staff_tokens: dict[str, str], admin: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    first, device = _assigned(client, staff_tokens)
    # Taken off its first wearer while out of signal: the strap cut and the last fix wait
    # in the device until it is next switched on, on its next wearer.
    removed = datetime.now(UTC)
    buffered = [device.item("strap", at=removed, state="cut"), device.position(at=removed)]
    client.delete(f"/api/v1/devices/{device.device_id}/assignment", headers=admin)
    in_stock = device.position()  # switched on in the store room
    # The next wearer's order began the day before: the device's fixes are inside it.
    second = _order(client, staff_tokens, starts_at=(removed - timedelta(days=1)).isoformat())
    assigned = client.post(f"/api/v1/devices/{device.device_id}/assignment",
                           json={"order_id": second["id"]}, headers=admin)
    assert assigned.status_code == 200, assigned.text
    items = [*buffered, in_stock, device.position()]
    response = send(client, device, items)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == [2, 3, 5]
    assert body["dropped"] == [{"seq": 4, "reason": BEFORE_ASSIGNMENT}]
    again = send(client, device, items).json()  # the answer was lost: sent again
    assert (again["accepted"], again["duplicates"]) == ([], [2, 3, 5])
    with sessions() as session:
        fixes = session.execute(select(Position.seq, Position.subject_id)).all()
        events = session.execute(select(DeviceEvent.seq, DeviceEvent.subject_id)).all()
        health = session.get(DeviceHealth, uuid.UUID(device.device_id))
    assert sorted((seq, str(s)) for seq, s in fixes) == [
        (1, first["subject_id"]), (3, first["subject_id"]), (5, second["subject_id"])
    ]
    assert [(seq, str(s)) for seq, s in events] == [(2, first["subject_id"])]
    assert health is not None and health.strap_state is None  # the device now, not then
    sent_on = sorted(([i["seq"] for i in m["items"]], m["subject_id"])
                     for m in _published(client, sessions) if m["items"][0]["seq"] > 1)
    assert sent_on == [([2, 3], first["subject_id"]), ([5], second["subject_id"])]


def test_what_a_returned_device_took_before_it_was_taken_off_stays_its_wearers(
    client: TestClient, staff_tokens: dict[str, str], admin: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    order, device = _assigned(client, staff_tokens)
    last = device.position(at=datetime.now(UTC))
    client.delete(f"/api/v1/devices/{device.device_id}/assignment", headers=admin)
    response = send(client, device, [last, device.position()])
    assert response.json()["accepted"] == [2, 3]
    with sessions() as session:
        owners = {seq: s for seq, s in session.execute(select(Position.seq, Position.subject_id))}
    assert (str(owners[2]), owners[3]) == (order["subject_id"], None)


def _published(client: TestClient, sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    """Telemetry messages still in the outbox or already relayed to the bus."""
    with sessions() as session:
        payloads = {row.msg_id: row.payload
                    for row in session.execute(select(OutboxMessage.msg_id, OutboxMessage.payload))}
    payloads |= {m.msg_id: m.data for m in client.app.state.bus.log if m.data}
    return [json.loads(p) for p in payloads.values() if b'"items"' in p]


def test_only_an_assigned_device_can_be_unassigned(
    client: TestClient, admin: dict[str, str], staff_tokens: dict[str, str]
) -> None:
    device = pair(client, staff_tokens["admin"])
    response = client.delete(f"/api/v1/devices/{device.device_id}/assignment", headers=admin)
    assert response.status_code == 422, response.text
    assert "not assigned" in response.json()["detail"]
    missing = client.delete(f"/api/v1/devices/{uuid.uuid4()}/assignment", headers=admin)
    assert missing.status_code == 404


@pytest.mark.parametrize("how", ["faulty", "retired"])
def test_a_device_marked_faulty_or_retired_leaves_its_order(
    how: str, client: TestClient, staff_tokens: dict[str, str], admin: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    _, device = _assigned(client, staff_tokens)
    if how == "faulty":
        response = client.patch(f"/api/v1/devices/{device.device_id}",
                                json={"state": "faulty"}, headers=admin)
    else:
        response = client.post(f"/api/v1/devices/{device.device_id}/retirement", headers=admin)
    assert response.status_code == 200, response.text
    assert (response.json()["order_id"], response.json()["subject_id"]) == (None, None)
    [closed] = _assignments(sessions, device)
    assert closed.unassigned_at is not None


def test_a_firmware_change_keeps_the_assignment(
    client: TestClient, staff_tokens: dict[str, str], admin: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    order, device = _assigned(client, staff_tokens)
    response = client.patch(f"/api/v1/devices/{device.device_id}",
                            json={"firmware": "2.1.0", "state": "assigned"}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["order_id"] == order["id"]
    [open_] = _assignments(sessions, device)
    assert open_.unassigned_at is None


def test_a_device_is_put_on_an_order_only_through_its_assignment(
    client: TestClient, staff_tokens: dict[str, str], admin: dict[str, str]
) -> None:
    device = pair(client, staff_tokens["admin"])
    response = client.patch(f"/api/v1/devices/{device.device_id}", json={"state": "assigned"},
                            headers=admin)
    assert response.status_code == 422, response.text
    assert "through its assignment" in response.json()["detail"]
    state = client.get(f"/api/v1/devices/{device.device_id}", headers=admin).json()["state"]
    assert state == "paired"


def test_a_fitting_recorded_afterwards_keeps_what_the_device_took_since(
    client: TestClient, staff_tokens: dict[str, str],
) -> None:
    _, device = _fitted(client, staff_tokens, ago=timedelta(minutes=10))
    now = datetime.now(UTC)
    body = send(client, device, [device.position(at=now - timedelta(minutes=15)),
                                 device.position(at=now - timedelta(minutes=5))]).json()
    assert (body["accepted"], body["dropped"]) == ([2], [{"seq": 1, "reason": BEFORE_ASSIGNMENT}])


@pytest.mark.parametrize(("fitted", "why"), [
    (timedelta(minutes=5), "in the future"),
    (-timedelta(hours=25), "within 24 hours"),
    (-timedelta(minutes=5), "before the device was last taken off"),
])
def test_a_fitting_time_is_refused_in_the_future_over_a_day_ago_or_before_the_last_release(
    fitted: timedelta, why: str, client: TestClient, staff_tokens: dict[str, str],
    admin: dict[str, str], sessions: sessionmaker[Session],
) -> None:
    _, device = _assigned(client, staff_tokens)
    client.delete(f"/api/v1/devices/{device.device_id}/assignment", headers=admin)
    order = _order(client, staff_tokens)
    response = client.post(
        f"/api/v1/devices/{device.device_id}/assignment",
        json={"order_id": order["id"], "fitted_at": (datetime.now(UTC) + fitted).isoformat()},
        headers=admin,
    )
    assert response.status_code == 422, response.text
    assert why in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "fitted_at"
    assert len(_assignments(sessions, device)) == 1  # nothing half-written


def test_a_fitting_time_without_its_offset_is_refused(
    client: TestClient, staff_tokens: dict[str, str], admin: dict[str, str]
) -> None:
    order = _order(client, staff_tokens)
    device = pair(client, staff_tokens["admin"])
    response = client.post(f"/api/v1/devices/{device.device_id}/assignment",
                           json={"order_id": order["id"], "fitted_at": "2026-12-07T10:00:00"},
                           headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "fitted_at"


def test_a_removal_takes_the_device_off_its_wearer_as_of_when_it_happened(
    client: TestClient, staff_tokens: dict[str, str], admin: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    order, device = _fitted(client, staff_tokens, ago=timedelta(hours=2))
    now = datetime.now(UTC)
    removed = now - timedelta(minutes=30)
    response = client.post(f"/api/v1/devices/{device.device_id}/removal",
                           json={"removed_at": removed.isoformat()}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "paired" and response.json()["subject_id"] is None
    assert datetime.fromisoformat(response.json()["serving_since"]) == removed
    [assignment] = _assignments(sessions, device)
    assert assignment.unassigned_at == assignment.removed_at
    assert assignment.removed_at is not None
    assert assignment.removed_at.replace(tzinfo=UTC) == removed
    assert _actions(sessions, device)[-1] == "device.remove"
    # Sent afterwards: the last fix on the wearer, and one from the technician's van.
    body = send(client, device, [device.position(at=removed - timedelta(minutes=5)),
                                 device.position(at=removed + timedelta(minutes=5))]).json()
    assert body["accepted"] == [1, 2]
    with sessions() as session:
        owners = {seq: s for seq, s in session.execute(select(Position.seq, Position.subject_id))}
    assert (str(owners[1]), owners[2]) == (order["subject_id"], None)


def test_a_late_fix_for_the_last_wearer_is_judged_after_their_stored_trail(
    client: TestClient, staff_tokens: dict[str, str], admin: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    _, device = _fitted(client, staff_tokens, ago=timedelta(hours=2))
    now = datetime.now(UTC)
    assert send(client, device, [device.position(at=now - timedelta(minutes=60))]).json()[
        "accepted"] == [1]
    client.delete(f"/api/v1/devices/{device.device_id}/assignment", headers=admin)
    # Ten minutes after a fix in London, one in Paris: not where the wearer was.
    paris = device.position(lat=48.8566, lon=2.3522, at=now - timedelta(minutes=50))
    assert send(client, device, [paris]).json()["accepted"] == [2]
    with sessions() as session:
        flags = dict(session.execute(select(Position.seq, Position.flags)).all())
    assert flags[1] == "" and "implied_speed" in flags[2]


@pytest.mark.parametrize(("removed", "why"), [
    (timedelta(minutes=5), "in the future"),
    (-timedelta(hours=25), "within 24 hours"),
    (-timedelta(hours=3), "before the device was fitted"),
])
def test_a_removal_time_is_refused_in_the_future_over_a_day_ago_or_before_the_fitting(
    removed: timedelta, why: str, client: TestClient, staff_tokens: dict[str, str],
    admin: dict[str, str], sessions: sessionmaker[Session],
) -> None:
    _, device = _fitted(client, staff_tokens, ago=timedelta(hours=2))
    response = client.post(
        f"/api/v1/devices/{device.device_id}/removal",
        json={"removed_at": (datetime.now(UTC) + removed).isoformat()}, headers=admin,
    )
    assert response.status_code == 422, response.text
    assert why in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "removed_at"
    [assignment] = _assignments(sessions, device)
    assert assignment.unassigned_at is None  # nothing half-written


def test_only_a_device_on_an_order_can_be_removed_from_its_wearer(
    client: TestClient, staff_tokens: dict[str, str], admin: dict[str, str]
) -> None:
    device = pair(client, staff_tokens["admin"])
    response = client.post(f"/api/v1/devices/{device.device_id}/removal", json={},
                           headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "device_id"


def test_a_reused_device_never_shows_the_last_wearers_inbox(
    client: TestClient, staff_tokens: dict[str, str], admin: dict[str, str]
) -> None:
    first, device = _assigned(client, staff_tokens)
    caseworker = bearer(staff_tokens["caseworker"])
    sent = client.post(f"/api/v1/subjects/{first['subject_id']}/messages",
                       json={"text": "Your appointment moved."}, headers=caseworker)
    assert sent.status_code == 201, sent.text
    client.delete(f"/api/v1/devices/{device.device_id}/assignment", headers=admin)
    [withdrawn] = client.get(f"/api/v1/subjects/{first['subject_id']}/messages",
                             headers=caseworker).json()["items"]
    assert withdrawn["withdrawn_at"] is not None and withdrawn["delivered_at"] is None

    second = _order(client, staff_tokens)
    client.post(f"/api/v1/devices/{device.device_id}/assignment",
                json={"order_id": second["id"]}, headers=admin)
    inbox = client.get("/device/v1/inbox", headers=device.signed("GET", "/device/v1/inbox"))
    assert inbox.status_code == 200, inbox.text
    items = inbox.json()["items"]
    assert [item["kind"] for item in items] == ["notice"]  # the new wearer's privacy notice
    assert "Your appointment moved." not in inbox.text


def test_a_tracker_app_is_shut_out_when_its_phone_leaves_the_order(
    client: TestClient, staff_tokens: dict[str, str], admin: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    phone = register(client, staff_tokens["admin"])
    secret = client.post(f"/api/v1/devices/{phone['id']}/tracker-secret",
                         headers=admin).json()["secret"]
    order = _order(client, staff_tokens,
                   starts_at=(datetime.now(UTC) - timedelta(days=1)).isoformat())
    assigned = client.post(f"/api/v1/devices/{phone['id']}/assignment",
                           json={"order_id": order["id"]}, headers=admin)
    assert assigned.status_code == 200, assigned.text
    basic = base64.b64encode(f"{phone['serial']}:{secret}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}"}
    # Taken a minute before the phone was put on the order: answered, not kept as theirs.
    earlier = {"_type": "location", "lat": 51.5, "lon": -0.12, "tst": int(time.time()) - 60}
    assert client.post("/device/v1/owntracks", json=earlier, headers=headers).status_code == 200
    fix = earlier | {"tst": math.ceil(time.time())}
    assert client.post("/device/v1/owntracks", json=fix, headers=headers).status_code == 200
    client.delete(f"/api/v1/devices/{phone['id']}/assignment", headers=admin)
    fix["tst"] += 1
    assert client.post("/device/v1/owntracks", json=fix, headers=headers).status_code == 401
    with sessions() as session:
        assert len(session.scalars(select(Position)).all()) == 1


def test_two_hand_overs_of_one_device_at_once_let_only_the_first_through(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        order = factories.order(session, factories.subject(session).id)
        device = devices_service.register_device(session, principal=SYSTEM, data=DeviceCreate(
            kind=order.device_kind, serial=f"TWICE-{uuid.uuid4().hex[:8]}"))
        devices_service.assign_device(session, principal=SYSTEM, device_id=device.id,
                                      order_id=order.id, now=datetime.now(UTC))
        device_id = device.id
    removed, may_commit = threading.Event(), threading.Event()
    outcome: dict[str, BaseException | None] = {}

    def remove() -> None:
        with transaction(sessions) as session:
            devices_service.record_removal(session, principal=SYSTEM, device_id=device_id,
                                           now=datetime.now(UTC))
            removed.set()
            may_commit.wait(timeout=10)

    def take_off() -> None:
        try:
            with transaction(sessions) as session:
                devices_service.unassign_device(session, principal=SYSTEM, device_id=device_id,
                                                now=datetime.now(UTC))
            outcome["take_off"] = None
        except Exception as error:  # reported to the test thread
            outcome["take_off"] = error

    first = threading.Thread(target=remove)
    first.start()
    assert removed.wait(timeout=10)
    second = threading.Thread(target=take_off)
    second.start()
    second.join(timeout=1)
    assert second.is_alive()  # waits for the first hand-over to commit or roll back
    may_commit.set()
    first.join(timeout=10)
    second.join(timeout=10)
    assert isinstance(outcome["take_off"], Invalid)
    with sessions() as session:
        actions = session.scalars(select(AuditEntry.action).where(
            AuditEntry.record_id == str(device_id), AuditEntry.action.like("device.%"))).all()
    assert sorted(actions) == ["device.assign", "device.create", "device.remove"]
