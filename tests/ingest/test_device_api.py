"""The device API end to end: pairing, signatures, telemetry outcomes, inbox."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openem.app import create_app
from openem.bus.outbox import relay_once
from openem.config import Settings
from openem.devices import inbox
from openem.ingest.models import DeviceEvent
from openem.locations.models import Position
from openem.sim.signer import DeviceSigner, generate_device_key_pair
from tests.conftest import bearer
from tests.support.devices import TestDevice, minutes_ago, pair, register, send


@pytest.fixture
def admin(staff_tokens: dict[str, str]) -> str:
    return staff_tokens["admin"]


@pytest.fixture
def device(client: TestClient, admin: str) -> TestDevice:
    return pair(client, admin)


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_pairing_code_is_single_use(client: TestClient, admin: str) -> None:
    registered = register(client, admin)
    code = client.post(
        f"/api/v1/devices/{registered['id']}/pairing-code", headers=bearer(admin)
    ).json()["code"]
    keys = generate_device_key_pair(device_id=registered["id"])
    body = {
        "serial": registered["serial"],
        "code": code,
        "public_key": base64.b64encode(keys.public_key_raw()).decode(),
    }
    assert client.post("/device/v1/pair", json=body).status_code == 200
    again = client.post("/device/v1/pair", json=body)
    assert again.status_code == 401
    assert "pairing refused" in again.json()["detail"]


def test_wrong_codes_burn_the_pairing_code(client: TestClient, admin: str) -> None:
    registered = register(client, admin)
    code = client.post(
        f"/api/v1/devices/{registered['id']}/pairing-code", headers=bearer(admin)
    ).json()["code"]
    keys = generate_device_key_pair(device_id=registered["id"])
    key = base64.b64encode(keys.public_key_raw()).decode()
    for _ in range(5):
        wrong = {"serial": registered["serial"], "code": "WRONGCODE1", "public_key": key}
        assert client.post("/device/v1/pair", json=wrong).status_code == 401
    right = {"serial": registered["serial"], "code": code, "public_key": key}
    assert client.post("/device/v1/pair", json=right).status_code == 401


def test_a_valid_batch_is_stored_and_acknowledged(
    client: TestClient, device: TestDevice, sessions: sessionmaker[Session]
) -> None:
    items = [
        device.position(),
        device.item("battery", level=80, charging=False),
        device.item("heartbeat"),
    ]
    response = send(client, device, items)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == [1, 2, 3]
    assert _count(sessions, Position) == 1
    assert _count(sessions, DeviceEvent) == 2


def test_bad_items_are_listed_back_and_good_ones_still_stored(
    client: TestClient, device: TestDevice, sessions: sessionmaker[Session]
) -> None:
    good = device.position()
    bad_lat = device.position(lat=123.0)
    too_old = device.position(at=datetime.now(UTC) - timedelta(days=400))
    unknown = device.item("teleport")
    response = send(client, device, [good, bad_lat, too_old, unknown])
    body = response.json()
    assert response.status_code == 200
    assert body["accepted"] == [good["seq"]]
    reasons = {item["seq"]: item["reason"] for item in body["rejected"]}
    assert reasons == {
        bad_lat["seq"]: "invalid_value",
        too_old["seq"]: "ts_too_old",
        unknown["seq"]: "unknown_type",
    }
    assert _count(sessions, Position) == 1


def test_duplicates_and_replayed_requests_are_stored_once(
    client: TestClient, device: TestDevice, sessions: sessionmaker[Session]
) -> None:
    items = [device.position(), device.position()]
    body = json.dumps({"items": items}).encode()
    headers = device.signed("POST", "/device/v1/telemetry", body)
    first = client.post("/device/v1/telemetry", content=body, headers=headers)
    replay = client.post("/device/v1/telemetry", content=body, headers=headers)
    assert first.json()["accepted"] == [1, 2]
    assert replay.status_code == 200
    assert replay.json()["accepted"] == [] and replay.json()["duplicates"] == [1, 2]
    resend = send(client, device, [items[1], device.position()])
    assert resend.json()["duplicates"] == [2] and resend.json()["accepted"] == [3]
    assert _count(sessions, Position) == 3


def test_implausible_fixes_are_stored_flagged(
    client: TestClient, device: TestDevice, sessions: sessionmaker[Session]
) -> None:
    response = send(
        client, device, [device.position(lat=0.0, lon=0.0), device.position(accuracy_m=5000.0)]
    )
    assert response.json()["flagged"] == {"1": ["null_island"], "2": ["poor_accuracy"]}
    with sessions() as session:
        flags = sorted(session.scalars(select(Position.flags)))
    assert flags == ["null_island", "poor_accuracy"]


def test_a_jump_faster_than_300_kmh_is_flagged(client: TestClient, device: TestDevice) -> None:
    start = minutes_ago(10)
    response = send(
        client,
        device,
        [
            device.position(lat=51.50, lon=-0.12, at=start),
            device.position(lat=55.95, lon=-3.19, at=start + timedelta(minutes=5)),
        ],
    )
    assert response.json()["flagged"] == {"2": ["implied_speed"]}


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("no_signature", "missing_signature"),
        ("other_key", "bad_signature"),
        ("body", "digest_mismatch"),
        ("old", "created_too_old"),
        ("future", "created_in_future"),
    ],
)
def test_every_signature_failure_is_refused_with_its_reason(
    client: TestClient,
    device: TestDevice,
    sessions: sessionmaker[Session],
    tamper: str,
    reason: str,
) -> None:
    body = json.dumps({"items": [device.position()]}).encode()
    path = "/device/v1/telemetry"
    when = {"old": minutes_ago(6), "future": datetime.now(UTC) + timedelta(minutes=2)}
    headers = device.signed("POST", path, body, now=when.get(tamper))
    if tamper == "no_signature":
        headers = {"content-type": "application/json"}
    if tamper == "other_key":
        impostor = generate_device_key_pair(device_id=device.device_id)
        headers = DeviceSigner(device.device_id, impostor.private_key).sign("POST", path, body)
        headers["content-type"] = "application/json"
    if tamper == "body":
        body = body.replace(b"51.5072", b"51.6072")
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert _count(sessions, Position) == 0


def test_a_retired_device_is_refused_on_its_next_request(
    client: TestClient, device: TestDevice, admin: str
) -> None:
    assert send(client, device, [device.position()]).status_code == 200
    retired = client.post(f"/api/v1/devices/{device.device_id}/retirement", headers=bearer(admin))
    assert retired.status_code == 200 and retired.json()["state"] == "retired"
    refused = send(client, device, [device.position()])
    assert refused.status_code == 401
    assert "unknown_key" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 422),
        (b'{"items": {}}', "application/json", 422),
        (b'{"items": [], "extra": 1}', "application/json", 422),
        (b'{"items": []}', "text/plain", 415),
    ],
)
def test_malformed_batches_are_refused_whole(
    client: TestClient, device: TestDevice, body: bytes, content_type: str, status: int
) -> None:
    headers = device.signed("POST", "/device/v1/telemetry", body) | {"content-type": content_type}
    response = client.post("/device/v1/telemetry", content=body, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_a_batch_over_1000_items_is_refused(client: TestClient, device: TestDevice) -> None:
    items = [device.item("heartbeat") for _ in range(1001)]
    response = send(client, device, items)
    assert response.status_code == 422
    assert "too_many_items" in response.json()["detail"]


def test_a_body_over_one_mebibyte_is_refused(client: TestClient, device: TestDevice) -> None:
    body = b'{"items": [' + b" " * (1024 * 1024 + 10) + b"]}"
    headers = device.signed("POST", "/device/v1/telemetry", body)
    response = client.post("/device/v1/telemetry", content=body, headers=headers)
    assert response.status_code == 413


def test_nan_and_infinite_numbers_are_refused_per_item(
    client: TestClient, device: TestDevice
) -> None:
    body = (
        b'{"items": [{"type": "position", "seq": 1, "ts": "'
        + datetime.now(UTC).isoformat().encode()
        + b'", "lat": NaN, "lon": 1.0}, {"type": "heartbeat", "seq": 2, "ts": "'
        + datetime.now(UTC).isoformat().encode()
        + b'"}]}'
    )
    response = client.post(
        "/device/v1/telemetry",
        content=body,
        headers=device.signed("POST", "/device/v1/telemetry", body),
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == [2]
    assert response.json()["rejected"][0]["reason"] == "not_finite"


def test_device_health_follows_telemetry(
    client: TestClient, device: TestDevice, admin: str
) -> None:
    send(
        client,
        device,
        [
            device.position(),
            device.item("battery", level=14, charging=False),
            device.item("strap", state="intact"),
            device.item("worn", worn=True),
        ],
    )
    health = client.get(f"/api/v1/devices/{device.device_id}/health", headers=bearer(admin))
    body = health.json()
    assert health.status_code == 200
    assert body["battery_level"] == 14 and body["charging"] is False
    assert body["strap_state"] == "intact" and body["worn"] is True
    assert body["last_fix_at"] is not None and body["last_seen_at"] is not None


def test_accepted_items_reach_the_bus_once_through_the_outbox(
    client: TestClient, device: TestDevice, sessions: sessionmaker[Session]
) -> None:
    bus = client.app.state.bus  # type: ignore[attr-defined]

    async def consume() -> list[int]:
        subscription = await bus.subscribe("openem.telemetry.*", durable="test-consumer")
        await relay_once(sessions, bus)
        seqs = []
        for message in await subscription.fetch(50, timeout=1):
            seqs.extend(item["seq"] for item in json.loads(message.data)["items"])
            await message.ack()
        return seqs

    send(client, device, [device.position(), device.position()])
    send(client, device, [device.position(seq=2), device.position()])
    seqs = client.portal.call(consume)  # type: ignore[union-attr]
    assert sorted(seqs) == [1, 2, 3]


def test_inbox_delivers_oldest_first_until_acknowledged(
    client: TestClient, device: TestDevice, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session, session.begin():
        now = datetime.now(UTC)
        first = inbox.configure(
            session,
            device_id=uuid.UUID(device.device_id),
            fix_interval_s=15,
            upload_interval_s=15,
            reason="test",
            now=now,
        )
        inbox.post(
            session,
            device_id=first.device_id,
            kind="message",
            payload={"text": "Please charge your device", "language": "en"},
            now=now,
        )
    headers = device.signed("GET", "/device/v1/inbox")
    items = client.get("/device/v1/inbox", headers=headers).json()["items"]
    assert [item["kind"] for item in items] == ["config", "message"]
    ack = json.dumps({"ids": [items[0]["id"]]}).encode()
    response = client.post(
        "/device/v1/inbox/ack",
        content=ack,
        headers=device.signed("POST", "/device/v1/inbox/ack", ack),
    )
    assert response.json() == {"acknowledged": 1}
    remaining = client.get("/device/v1/inbox", headers=device.signed("GET", "/device/v1/inbox"))
    assert [item["kind"] for item in remaining.json()["items"]] == ["message"]


def test_failed_pairings_are_rate_limited_per_client(client: TestClient, admin: str) -> None:
    registered = register(client, admin)
    keys = generate_device_key_pair(device_id=registered["id"])
    body = {"serial": registered["serial"], "code": "WRONGCODE1",
            "public_key": base64.b64encode(keys.public_key_raw()).decode()}
    statuses = [client.post("/device/v1/pair", json=body).status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429


def test_failed_pairings_counted_by_one_process_are_refused_by_another(
    client: TestClient, admin: str, settings: Settings
) -> None:
    registered = register(client, admin)
    keys = generate_device_key_pair(device_id=registered["id"])
    body = {"serial": registered["serial"], "code": "WRONGCODE1",
            "public_key": base64.b64encode(keys.public_key_raw()).decode()}
    with TestClient(create_app(settings)) as other_process:
        statuses = [
            web.post("/device/v1/pair", json=body).status_code
            for web in [client, other_process] * 5 + [client, other_process]
        ]
    assert statuses == [401] * 10 + [429, 429]
