"""Existing tracker apps work unchanged: OwnTracks (HTTP mode) and OsmAnd / Traccar Client."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.locations.models import Position
from tests.conftest import bearer
from tests.support.devices import pair, register
from tests.support.writer import queued_upload, until, writes_blocked


@pytest.fixture
def tracker(client: TestClient, staff_tokens: dict[str, str]) -> tuple[str, str]:
    admin = staff_tokens["admin"]
    registered = register(client, admin)
    secret = client.post(
        f"/api/v1/devices/{registered['id']}/tracker-secret", headers=bearer(admin)
    ).json()["secret"]
    return registered["serial"], secret


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _positions(sessions: sessionmaker[Session]) -> list[Position]:
    with sessions() as session:
        return list(session.scalars(select(Position).order_by(Position.fixed_at)))


def test_owntracks_location_as_the_app_sends_it_is_stored(
    client: TestClient, tracker: tuple[str, str], sessions: sessionmaker[Session]
) -> None:
    serial, secret = tracker
    tst = int(time.time()) - 30
    payload = {
        "_type": "location",
        "acc": 12,
        "alt": 35,
        "batt": 76,
        "bs": 1,
        "conn": "m",
        "lat": 51.5033,
        "lon": -0.1196,
        "tid": "ab",
        "tst": tst,
        "vac": 3,
        "vel": 18,
        "cog": 90,
        "t": "u",
        "m": 1,
        "created_at": tst + 1,
        "topic": "owntracks/u/d",
    }
    headers = {
        "Authorization": _basic(serial, secret),
        "X-Limit-U": serial,
        "X-Limit-D": "phone",
        "Content-Type": "application/json",
    }
    response = client.post("/device/v1/owntracks", content=json.dumps(payload), headers=headers)
    assert response.status_code == 200
    assert response.json() == []
    stored = _positions(sessions)
    assert len(stored) == 1
    assert stored[0].accuracy_m == 12 and abs(stored[0].speed_mps - 5.0) < 1e-9
    again = client.post("/device/v1/owntracks", content=json.dumps(payload), headers=headers)
    assert again.status_code == 200
    assert len(_positions(sessions)) == 1


def test_owntracks_without_the_device_secret_is_refused(
    client: TestClient, tracker: tuple[str, str], sessions: sessionmaker[Session]
) -> None:
    serial, _ = tracker
    payload = {"_type": "location", "lat": 51.5, "lon": -0.1, "tst": int(time.time())}
    for headers in ({}, {"Authorization": _basic(serial, "guess")}):
        response = client.post("/device/v1/owntracks", json=payload, headers=headers)
        assert response.status_code == 401
    assert _positions(sessions) == []


def test_owntracks_device_without_a_secret_set_is_refused(
    client: TestClient, staff_tokens: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    serial = register(client, staff_tokens["admin"])["serial"]
    payload = {"_type": "location", "lat": 51.5, "lon": -0.1, "tst": int(time.time())}
    response = client.post(
        "/device/v1/owntracks", json=payload, headers={"Authorization": _basic(serial, "")}
    )
    assert response.status_code == 401


def test_osmand_query_string_as_traccar_client_sends_it_is_stored(
    client: TestClient, tracker: tuple[str, str], sessions: sessionmaker[Session]
) -> None:
    serial, secret = tracker
    ts = int(time.time()) - 20
    query = (
        f"id={serial}&timestamp={ts}&lat=51.5007&lon=-0.1246&speed=10.0&bearing=180.0"
        f"&altitude=20.0&accuracy=6.0&batt=55.0&token={secret}"
    )
    response = client.post(f"/device/v1/osmand?{query}")
    assert response.status_code == 200
    stored = _positions(sessions)
    assert len(stored) == 1
    assert abs(stored[0].speed_mps - 10.0 * 0.514444) < 1e-3
    assert stored[0].fixed_at == datetime.fromtimestamp(ts, UTC)


def test_osmand_json_body_with_basic_auth_is_stored(
    client: TestClient, tracker: tuple[str, str], sessions: sessionmaker[Session]
) -> None:
    serial, secret = tracker
    body = {
        "device_id": serial,
        "location": {
            "timestamp": datetime.now(UTC).isoformat(),
            "is_moving": True,
            "odometer": 0,
            "coords": {
                "latitude": 51.51,
                "longitude": -0.13,
                "accuracy": 9.0,
                "speed": 1.2,
                "heading": 45.0,
                "altitude": 11.0,
            },
            "battery": {"level": 0.66, "is_charging": False},
            "activity": {"type": "walking"},
        },
    }
    response = client.post(
        "/device/v1/osmand", json=body, headers={"Authorization": _basic(serial, secret)}
    )
    assert response.status_code == 200, response.text
    assert len(_positions(sessions)) == 1


def test_osmand_with_a_wrong_token_is_refused(
    client: TestClient, tracker: tuple[str, str], sessions: sessionmaker[Session]
) -> None:
    serial, _ = tracker
    response = client.get(f"/device/v1/osmand?id={serial}&lat=51.5&lon=-0.1&token=nope")
    assert response.status_code == 401
    assert _positions(sessions) == []


def test_tracker_apps_are_refused_while_the_writer_sheds_load(
    client: TestClient, tracker: tuple[str, str], staff_tokens: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    serial, secret = tracker
    signing = pair(client, staff_tokens["admin"])
    state = client.app.state  # type: ignore[attr-defined]
    late = queued_upload(signing)
    late.queued_at -= 10  # waited twice the default limit
    fix = {"_type": "location", "lat": 51.5, "lon": -0.12, "tst": int(time.time()) - 5}
    with writes_blocked(state.sessions):
        state.telemetry_writer._queue.put(late)
        state.telemetry_writer._queue.put(queued_upload(signing))
        until(lambda: state.telemetry_writer._busy_since is not None)
        refused = [
            client.post("/device/v1/owntracks", content=json.dumps(fix),
                        headers={"Authorization": _basic(serial, secret),
                                 "Content-Type": "application/json"}),
            client.post(f"/device/v1/osmand?id={serial}&lat=51.5&lon=-0.12"
                        f"&timestamp={int(time.time()) - 5}&token={secret}"),
        ]
    until(lambda: late.outcome.done())
    for response in refused:
        assert response.status_code == 503
        assert 30 <= int(response.headers["retry-after"]) <= 60
    assert {str(position.device_id) for position in _positions(sessions)} == {signing.device_id}
