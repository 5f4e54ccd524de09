"""Staff reads of a subject's positions: formats, purpose on the audit trail, flagged fixes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import AuditEntry
from tests.conftest import bearer
from tests.support import factories
from tests.support.devices import TestDevice, pair, send


@pytest.fixture
def monitored(client: TestClient, staff_tokens: dict[str, str]) -> tuple[str, TestDevice]:
    caseworker, admin = bearer(staff_tokens["caseworker"]), bearer(staff_tokens["admin"])
    subject_id = client.post(
        "/api/v1/subjects", json=factories.subject_data(), headers=caseworker
    ).json()["id"]
    now = datetime.now(UTC)
    an_hour_ago = (now - timedelta(hours=1)).isoformat()
    order_id = client.post(
        "/api/v1/orders", json=factories.order_data(subject_id, starts_at=an_hour_ago),
        headers=caseworker,
    ).json()["id"]
    device = pair(client, staff_tokens["admin"])
    assigned = client.post(
        f"/api/v1/devices/{device.device_id}/assignment",
        json={"order_id": order_id, "fitted_at": an_hour_ago}, headers=admin,
    )
    assert assigned.status_code == 200, assigned.text
    send(
        client,
        device,
        [
            device.position(lat=51.5000, lon=-0.1200, at=now - timedelta(minutes=3)),
            device.position(lat=51.5005, lon=-0.1205, at=now - timedelta(minutes=2)),
            device.position(lat=0.0, lon=0.0, at=now - timedelta(minutes=1)),
        ],
    )
    return subject_id, device


DETAIL = {"X-Purpose-Detail": "court order 123"}


def _window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {"from": (now - timedelta(hours=1)).isoformat(), "to": now.isoformat()}


def test_trail_as_geojson_excludes_flagged_fixes_and_audits_the_purpose(
    client: TestClient,
    staff_tokens: dict[str, str],
    monitored: tuple[str, TestDevice],
    sessions: sessionmaker[Session],
) -> None:
    subject_id, _ = monitored
    response = client.get(
        f"/api/v1/subjects/{subject_id}/positions",
        params=_window() | {"purpose": "welfare_concern"},
        headers=bearer(staff_tokens["caseworker"]) | {"X-Purpose-Detail": "missed curfew call"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    points = [f for f in response.json()["features"] if f["geometry"]["type"] == "Point"]
    assert len(points) == 2
    with sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "positions.read")
        ).one()
    assert (entry.purpose, entry.purpose_detail) == ("welfare_concern", "missed curfew call")
    assert str(entry.subject_id) == subject_id


@pytest.mark.parametrize(("fmt", "root"), [("gpx", "gpx"), ("kml", "kml")])
def test_trail_exports_as_gpx_and_kml(
    client: TestClient,
    staff_tokens: dict[str, str],
    monitored: tuple[str, TestDevice],
    fmt: str,
    root: str,
) -> None:
    subject_id, _ = monitored
    response = client.get(
        f"/api/v1/subjects/{subject_id}/positions",
        params=_window() | {"purpose": "court_order", "format": fmt},
        headers=bearer(staff_tokens["caseworker"]) | DETAIL,
    )
    assert response.status_code == 200
    assert ET.fromstring(response.content).tag.endswith(root)


def test_reading_a_trail_needs_a_purpose_from_the_list(
    client: TestClient, staff_tokens: dict[str, str], monitored: tuple[str, TestDevice]
) -> None:
    subject_id, _ = monitored
    headers = bearer(staff_tokens["caseworker"])
    missing = client.get(
        f"/api/v1/subjects/{subject_id}/positions", params=_window(), headers=headers
    )
    invented = client.get(
        f"/api/v1/subjects/{subject_id}/positions",
        params=_window() | {"purpose": "curiosity"},
        headers=headers,
    )
    assert missing.status_code == 422 and invented.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"purpose"}


def test_a_purpose_needs_a_few_words_of_detail(
    client: TestClient, staff_tokens: dict[str, str], monitored: tuple[str, TestDevice]
) -> None:
    subject_id, _ = monitored
    response = client.get(
        f"/api/v1/subjects/{subject_id}/positions",
        params=_window() | {"purpose": "intelligence"},
        headers=bearer(staff_tokens["caseworker"]),
    )
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"detail"}


def test_operators_and_police_cannot_read_trails_directly(
    client: TestClient, staff_tokens: dict[str, str], monitored: tuple[str, TestDevice]
) -> None:
    subject_id, _ = monitored
    for role in ("operator", "police", "auditor"):
        response = client.get(
            f"/api/v1/subjects/{subject_id}/positions",
            params=_window() | {"purpose": "intelligence"},
            headers=bearer(staff_tokens[role]) | DETAIL,
        )
        assert response.status_code == 403


def test_trail_simplified_for_a_zoom_level_keeps_its_ends(
    client: TestClient, staff_tokens: dict[str, str], monitored: tuple[str, TestDevice]
) -> None:
    subject_id, _ = monitored
    response = client.get(
        f"/api/v1/subjects/{subject_id}/positions",
        params={**_window(), "purpose": "court_order", "zoom": 3},
        headers=bearer(staff_tokens["caseworker"]) | DETAIL,
    )
    assert response.status_code == 200, response.text
    fixes = [f for f in response.json()["features"] if f["properties"]["kind"] == "fix"]
    assert len(fixes) == 2
