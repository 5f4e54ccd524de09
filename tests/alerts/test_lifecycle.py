"""The alert workflow: open -> acknowledged -> assigned -> resolved, a person decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import Role, User
from openem.access.principal import SYSTEM
from openem.alerts import raising, service
from openem.alerts.models import Outcome
from openem.alerts.types import AlertType
from openem.db.session import transaction
from openem.errors import Forbidden
from openem.zones import service as zones_service
from openem.zones.schemas import ZoneUpdate
from tests.conftest import bearer
from tests.support import factories
from tests.support.rules import HOME, minutes, wearer

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
POINT = {"type": "Point", "coordinates": [HOME[1], HOME[0]]}


def _exclusion_alert(sessions: sessionmaker[Session], *, team: str = "north") -> str:
    w = wearer(sessions, start=T0, caseload_team=team)
    zone_id = w.zone(now=T0, name="victim", kind="exclusion", geometry=POINT, radius_m=100)
    w.send([w.fix(T0 + minutes(i), HOME) for i in range(1, 4)], received_at=T0 + minutes(4))
    with transaction(sessions) as session:
        zones_service.update_zone(session, principal=SYSTEM, zone_id=zone_id,
                                  data=ZoneUpdate(radius_m=300, geometry=POINT),
                                  now=T0 + minutes(30))
    return str(w.alerts()[0].id)


def test_full_lifecycle_with_the_breach_decided_only_by_a_person(
    client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str]
) -> None:
    alert_id = _exclusion_alert(sessions)
    operator, caseworker = bearer(staff_tokens["operator"]), bearer(staff_tokens["caseworker"])
    listed = client.get("/api/v1/alerts?status=open", headers=operator).json()["items"]
    assert [a["id"] for a in listed] == [alert_id]
    assert listed[0]["outcome"] is None and listed[0]["priority"] == 1
    early = client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=caseworker,
                        json={"outcome": "false_alarm", "note": "x"})
    assert early.status_code == 409
    acked = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=operator)
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    with sessions() as session:
        caseworker_id = next(u for u in _users(session) if u.role == Role.caseworker).id
    assigned = client.post(f"/api/v1/alerts/{alert_id}/assign", headers=operator,
                           json={"user_id": str(caseworker_id)})
    assert assigned.json()["status"] == "assigned"
    refused = client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=operator,
                          json={"outcome": "breach_confirmed", "note": "seen on the map"})
    assert refused.status_code == 403
    decided = client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=caseworker,
                          json={"outcome": "breach_confirmed", "note": "admitted at interview"})
    body = decided.json()
    assert body["status"] == "resolved" and body["outcome"] == "breach_confirmed"
    steps = [(e["action"], e["actor_role"]) for e in body["events"]]
    assert steps[0] == ("raised", "system")
    assert steps[-3:] == [("acknowledged", "operator"), ("assigned", "operator"),
                          ("resolved", "caseworker")]
    assert all(e["at"] for e in body["events"])
    assert body["acknowledged_by"] and body["assigned_by"] and body["resolved_by"]


def test_the_system_can_never_resolve_an_alert(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        subject = factories.subject(session)
        alert, _ = raising.raise_alert(session, subject_id=subject.id,
                                       alert_type=AlertType.checkin_failed, key="d",
                                       started_at=T0, now=T0)
        with pytest.raises(Forbidden):
            service.resolve(session, principal=SYSTEM, alert_id=alert.id,
                            outcome=Outcome.breach_confirmed, note="automatic", now=T0)
        assert alert.outcome is None


def test_evidence_geojson_shows_the_track_and_the_zone_as_it_was(
    client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str]
) -> None:
    alert_id = _exclusion_alert(sessions)
    response = client.get(f"/api/v1/alerts/{alert_id}/evidence.geojson",
                          headers=bearer(staff_tokens["caseworker"]))
    assert response.status_code == 200
    features = response.json()["features"]
    zone = next(f for f in features if f["properties"]["role"] == "zone")
    assert zone["properties"]["version"] == 1 and zone["properties"]["radius_m"] == 100
    assert [f["properties"]["role"] for f in features].count("fix") == 3
    assert any(f["geometry"]["type"] == "LineString" for f in features)


def test_alerts_on_another_caseload_are_not_listed_or_read(
    client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str]
) -> None:
    theirs = _exclusion_alert(sessions, team="south")
    caseworker = bearer(staff_tokens["caseworker"])
    assert client.get("/api/v1/alerts", headers=caseworker).json()["items"] == []
    assert client.get(f"/api/v1/alerts/{theirs}", headers=caseworker).status_code == 403
    assert client.get("/api/v1/alerts", headers=bearer(staff_tokens["police"])).status_code == 403


def test_unacknowledged_alerts_escalate_per_priority(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        high = factories.subject(session, risk_level="high")
        urgent, _ = raising.raise_alert(session, subject_id=high.id,
                                        alert_type=AlertType.exclusion_zone_entry, key="a",
                                        started_at=T0, now=T0)
        routine, _ = raising.raise_alert(session, subject_id=high.id,
                                         alert_type=AlertType.battery_low, key="b",
                                         started_at=T0, now=T0)
        assert (urgent.priority, routine.priority) == (1, 3)
        minutes_by_priority = (5, 15, 60, 240)
        due = raising.escalate_due(session, now=T0 + minutes(4),
                                   minutes_by_priority=minutes_by_priority)
        assert due == []
        due = raising.escalate_due(session, now=T0 + minutes(5),
                                   minutes_by_priority=minutes_by_priority)
        assert due == [urgent]
        due = raising.escalate_due(session, now=T0 + minutes(6),
                                   minutes_by_priority=minutes_by_priority)
        assert due == []
        due = raising.escalate_due(session, now=T0 + minutes(60),
                                   minutes_by_priority=minutes_by_priority)
        assert {a.key for a in due} == {"a", "b"}
        assert urgent.escalation_level == 2 and routine.escalation_level == 1


def _users(session: Session) -> list[User]:
    return list(session.scalars(select(User)))
