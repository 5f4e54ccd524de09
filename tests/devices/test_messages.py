"""Staff write to the wearer; the device inbox delivers it; staff see it arrive and be read."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import AuditEntry
from tests.conftest import bearer
from tests.support import factories
from tests.support.devices import TestDevice, pair

TEXT = "Your appointment has moved to Thursday at 10:00."


@pytest.fixture
def caseworker(staff_tokens: dict[str, str]) -> dict[str, str]:
    return bearer(staff_tokens["caseworker"])


def _wearer(
    client: TestClient, tokens: dict[str, str], **subject: Any
) -> tuple[str, TestDevice]:
    caseworker = bearer(tokens["caseworker"])
    subject_id = client.post("/api/v1/subjects", json=factories.subject_data(**subject),
                             headers=caseworker).json()["id"]
    order = client.post("/api/v1/orders", json=factories.order_data(subject_id),
                        headers=caseworker)
    assert order.status_code == 201, order.text
    device = pair(client, tokens["admin"])
    assigned = client.post(f"/api/v1/devices/{device.device_id}/assignment",
                           json={"order_id": order.json()["id"]},
                           headers=bearer(tokens["admin"]))
    assert assigned.status_code == 200, assigned.text
    return subject_id, device


def _inbox(client: TestClient, device: TestDevice) -> list[dict[str, Any]]:
    response = client.get("/device/v1/inbox", headers=device.signed("GET", "/device/v1/inbox"))
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def _ack(client: TestClient, device: TestDevice, ids: list[int]) -> None:
    body = json.dumps({"ids": ids}).encode()
    response = client.post("/device/v1/inbox/ack", content=body,
                           headers=device.signed("POST", "/device/v1/inbox/ack", body))
    assert response.status_code == 200, response.text


def test_a_message_reaches_the_wearers_device_in_their_language_and_staff_see_it_read(
    client: TestClient, staff_tokens: dict[str, str], caseworker: dict[str, str]
) -> None:
    subject_id, device = _wearer(client, staff_tokens, language="pl")
    sent = client.post(f"/api/v1/subjects/{subject_id}/messages", json={"text": TEXT},
                       headers=caseworker)
    assert sent.status_code == 201, sent.text
    [message] = sent.json()
    assert (message["text"], message["language"], message["topic"]) == (TEXT, "pl", "staff")
    assert message["device_id"] == device.device_id and message["delivered_at"] is None

    [delivered] = [item for item in _inbox(client, device) if item["kind"] == "message"]
    assert delivered["id"] == message["id"]
    assert delivered["payload"] == {"topic": "staff", "text": TEXT, "language": "pl"}
    _ack(client, device, [delivered["id"]])

    listed = client.get(f"/api/v1/subjects/{subject_id}/messages", headers=caseworker)
    assert listed.status_code == 200, listed.text
    [seen] = listed.json()["items"]
    assert seen["delivered_at"] is not None and seen["acked_at"] is not None


def test_staff_may_write_in_another_language_than_the_subjects(
    client: TestClient, staff_tokens: dict[str, str], caseworker: dict[str, str]
) -> None:
    subject_id, _ = _wearer(client, staff_tokens, language="pl")
    sent = client.post(f"/api/v1/subjects/{subject_id}/messages",
                       json={"text": "Please call us.", "language": "en"}, headers=caseworker)
    assert sent.status_code == 201, sent.text
    assert sent.json()[0]["language"] == "en"


def test_the_text_stays_out_of_the_audit_trail_and_the_logs(
    client: TestClient, staff_tokens: dict[str, str], caseworker: dict[str, str],
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture,
) -> None:
    subject_id, _ = _wearer(client, staff_tokens)
    with caplog.at_level(logging.DEBUG):
        client.post(f"/api/v1/subjects/{subject_id}/messages", json={"text": TEXT},
                    headers=caseworker)
        client.get(f"/api/v1/subjects/{subject_id}/messages", headers=caseworker)
    with sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("wearer_message.%"))
        ).all()
    assert [e.action for e in entries] == ["wearer_message.send", "wearer_message.read"]
    assert all(str(e.subject_id) == subject_id for e in entries)
    stored = " ".join(str(getattr(e, c.key)) for e in entries for c in AuditEntry.__table__.c)
    assert "appointment" not in stored
    assert "appointment" not in caplog.text


def test_a_subject_who_wears_no_device_cannot_be_sent_a_message(
    client: TestClient, caseworker: dict[str, str]
) -> None:
    subject_id = client.post("/api/v1/subjects", json=factories.subject_data(),
                             headers=caseworker).json()["id"]
    response = client.post(f"/api/v1/subjects/{subject_id}/messages", json={"text": TEXT},
                           headers=caseworker)
    assert response.status_code == 409, response.text
    assert "no assigned device" in response.json()["detail"]


@pytest.mark.parametrize("body", [
    {"text": ""}, {"text": "   "}, {"text": "x" * 501}, {"text": "hi", "language": "Polish"},
    {"text": "hi", "urgent": True}, {},
])
def test_a_bad_message_is_refused_and_nothing_is_sent(
    body: dict[str, Any], client: TestClient, staff_tokens: dict[str, str],
    caseworker: dict[str, str],
) -> None:
    subject_id, device = _wearer(client, staff_tokens)
    before = _inbox(client, device)
    response = client.post(f"/api/v1/subjects/{subject_id}/messages", json=body,
                           headers=caseworker)
    assert response.status_code == 422, response.text
    assert _inbox(client, device) == before


def test_a_caseworker_cannot_write_to_another_caseloads_subject(
    client: TestClient, staff_tokens: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    subject_id, device = _wearer(client, staff_tokens)
    with sessions() as session, session.begin():
        south = factories.token_for(session, factories.user(session, "caseworker", team="south"))
    for method in ("POST", "GET"):
        response = client.request(method, f"/api/v1/subjects/{subject_id}/messages",
                                  json={"text": TEXT} if method == "POST" else None,
                                  headers=bearer(south))
        assert response.status_code == 404, response.text
    assert [i for i in _inbox(client, device) if i["kind"] == "message"] == []


def test_messages_page_from_the_latest_back(
    client: TestClient, staff_tokens: dict[str, str], caseworker: dict[str, str]
) -> None:
    subject_id, _ = _wearer(client, staff_tokens)
    for n in range(3):
        client.post(f"/api/v1/subjects/{subject_id}/messages", json={"text": f"message {n}"},
                    headers=caseworker)
    url = f"/api/v1/subjects/{subject_id}/messages"
    latest = client.get(url, params={"limit": 2}, headers=caseworker).json()
    assert [m["text"] for m in latest["items"]] == ["message 1", "message 2"]
    older = client.get(url, params={"limit": 2, "before": latest["next_cursor"]},
                       headers=caseworker).json()
    assert [m["text"] for m in older["items"]] == ["message 0"]
    assert older["next_cursor"] is None
