"""End to end: signed telemetry -> ingest -> outbox -> bus -> rules -> alert in the queue."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import bearer
from tests.support import devices, factories

HOME_LAT, HOME_LON = 51.5072, -0.1276


def _open_alerts(client: TestClient, token: str, *, wait_for: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        items: list[dict[str, Any]] = client.get(
            "/api/v1/alerts", headers=bearer(token)).json()["items"]
        if len(items) >= wait_for or time.monotonic() > deadline:
            return items
        time.sleep(0.05)


def test_fixes_inside_an_exclusion_zone_reach_the_alert_queue_once(
    client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str]
) -> None:
    with sessions() as session, session.begin():
        subject = factories.subject(session)
        order = factories.order(session, subject.id)
        subject_id, order_id = str(subject.id), str(order.id)
    device = devices.pair(client, staff_tokens["admin"])
    assigned = client.post(f"/api/v1/devices/{device.device_id}/assignment",
                           headers=bearer(staff_tokens["admin"]), json={"order_id": order_id})
    assert assigned.status_code == 200, assigned.text
    zone = client.post(f"/api/v1/subjects/{subject_id}/zones",
                       headers=bearer(staff_tokens["caseworker"]),
                       json={"name": "victim", "kind": "exclusion", "radius_m": 200,
                             "geometry": {"type": "Point", "coordinates": [HOME_LON, HOME_LAT]}})
    assert zone.status_code == 201
    now = datetime.now(UTC)
    fixes = [device.position(lat=HOME_LAT, lon=HOME_LON, at=now + timedelta(seconds=i))
             for i in range(3)]
    assert devices.send(client, device, fixes).status_code == 200
    assert devices.send(client, device, fixes).status_code == 200
    [alert] = _open_alerts(client, staff_tokens["operator"], wait_for=1)
    assert alert["type"] == "exclusion_zone_entry" and alert["device_id"] == device.device_id
    time.sleep(0.5)
    again = client.get("/api/v1/alerts", headers=bearer(staff_tokens["operator"])).json()
    assert len(again["items"]) == 1, "the batch sent twice made one alert"


def test_a_check_in_outcome_on_the_bus_reaches_the_alert_queue(
    client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str]
) -> None:
    with sessions() as session, session.begin():
        subject_id = str(factories.subject(session).id)
    event = {"subject_id": subject_id, "prompt_id": "p-1", "outcome": "failed",
             "reason": "liveness_failed", "decision_id": "decision-1",
             "at": datetime.now(UTC).isoformat()}
    assert client.portal is not None
    for _ in range(2):
        client.portal.call(client.app.state.bus.publish,  # type: ignore[attr-defined]
                           f"openem.checkins.{subject_id}", json.dumps(event).encode())
    [alert] = _open_alerts(client, staff_tokens["caseworker"], wait_for=1)
    assert alert["type"] == "checkin_failed" and alert["alert_class"] == "compliance"
    assert alert["outcome"] is None
