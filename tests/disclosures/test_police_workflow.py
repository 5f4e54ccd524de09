"""Police requests end to end: request, approval, scoped access, expiry, register entry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, Uuid, bindparam, select, text
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import AuditEntry, OrganisationKind, Role
from openem.db.base import UTCDateTime
from openem.db.session import transaction
from openem.disclosures import register, service
from openem.disclosures.models import DisclosedClass, RequestStatus
from openem.disclosures.positions import SqlPositions, distance_m
from openem.disclosures.schemas import RequestCreate
from openem.errors import Forbidden, NotFound
from tests.conftest import bearer
from tests.support import factories

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _people(session: Session) -> dict[str, object]:
    police_org = factories.organisation(session, OrganisationKind.police)
    home_office = factories.organisation(session, OrganisationKind.home_office)
    return {
        "officer": factories.principal_for(factories.user(session, Role.police, org=police_org)),
        "colleague": factories.principal_for(factories.user(session, Role.police, org=police_org)),
        "approver": factories.principal_for(
            factories.user(session, Role.approver, org=home_office)
        ),
        "police_approver": factories.principal_for(
            factories.user(session, Role.approver, org=police_org)
        ),
        "auditor": factories.principal_for(factories.user(session, Role.auditor, org=home_office)),
    }


def _subject_request(**overrides: object) -> RequestCreate:
    data: dict[str, object] = {
        "kind": "subject",
        "subject_reference": "12/3456789X",
        "data_classes": ["profile", "orders"],
        "window_start": (NOW - timedelta(days=10)).isoformat(),
        "window_end": (NOW - timedelta(days=1)).isoformat(),
        "crime_reference": "CRIME-2026-0042",
        "legal_basis": "DPA 2018 s.35(2)(b)",
        "justification": "suspect in an investigation",
    }
    data.update(overrides)
    return RequestCreate.model_validate(data)


def test_subject_request_granted_used_within_scope_registered_then_expired(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        people = _people(session)
        subject = factories.subject(session, pnc_id="12/3456789X")
        factories.order(session, subject.id)
        request = service.file_request(
            session, principal=people["officer"], data=_subject_request(), now=NOW
        )
        assert request.status == RequestStatus.pending and request.subject_id == subject.id
        grant = service.grant_request(
            session,
            principal=people["approver"],
            request_id=request.id,
            valid_for=timedelta(days=2),
            conditions=None,
            now=NOW,
        )
        entry, disclosed, _, _ = register.disclose_subject(
            session,
            principal=people["officer"],
            grant_id=grant.id,
            data_class=DisclosedClass.profile,
            now=NOW + timedelta(hours=1),
        )
        assert disclosed.id == subject.id

    with transaction(sessions) as session:
        entries = register.disclosures_for_subject(session, subject_id=subject.id)
        assert [(d.data_class, d.recipient_id, d.approver_id, d.legal_basis) for d in entries] == [
            (
                "profile",
                people["officer"].user_id,
                people["approver"].user_id,
                "DPA 2018 s.35(2)(b)",
            )
        ]
        assert entries[0].id == entry.id

    # outside scope: a data class the grant does not cover
    with (
        pytest.raises(Forbidden, match="does not cover location_history"),
        transaction(sessions) as session,
    ):
        register.disclose_subject(
            session,
            principal=people["officer"],
            grant_id=grant.id,
            data_class=DisclosedClass.location_history,
            now=NOW + timedelta(hours=2),
        )
    # another officer cannot use the grant
    with pytest.raises(NotFound), transaction(sessions) as session:
        register.disclose_subject(
            session,
            principal=people["colleague"],
            grant_id=grant.id,
            data_class=DisclosedClass.profile,
            now=NOW + timedelta(hours=2),
        )
    # after expiry, by itself
    with pytest.raises(Forbidden, match="expired"), transaction(sessions) as session:
        register.disclose_subject(
            session,
            principal=people["officer"],
            grant_id=grant.id,
            data_class=DisclosedClass.profile,
            now=NOW + timedelta(days=2, seconds=1),
        )
    with transaction(sessions) as session:
        assert len(register.disclosures_for_subject(session, subject_id=subject.id)) == 1
        refused = session.scalars(
            select(AuditEntry.action).where(AuditEntry.outcome == "refused")
        ).all()
        assert refused.count("grant.use.location_history") == 1
        assert refused.count("grant.use.profile") == 2


def test_only_home_office_or_moj_approvers_decide_and_refusals_carry_a_reason(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        people = _people(session)
        factories.subject(session, pnc_id="12/3456789X")
        request = service.file_request(
            session, principal=people["officer"], data=_subject_request(), now=NOW
        )
    with pytest.raises(Forbidden), transaction(sessions) as session:
        service.grant_request(
            session,
            principal=people["police_approver"],
            request_id=request.id,
            valid_for=timedelta(days=1),
            conditions=None,
            now=NOW,
        )
    with transaction(sessions) as session:
        refused = service.refuse_request(
            session,
            principal=people["approver"],
            request_id=request.id,
            reason="not necessary or proportionate",
            now=NOW,
        )
        assert refused.status == RequestStatus.refused


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"radius_m": 501}, "radius_m is at most 500"),
        ({"window_end": (NOW - timedelta(hours=1)).isoformat()}, "at most 6 hours"),
        ({"latitude": None}, "needs latitude"),
    ],
)
def test_location_inquiry_over_the_limits_is_refused(
    overrides: dict[str, object], message: str
) -> None:
    data: dict[str, object] = {
        "kind": "location",
        "latitude": 51.5,
        "longitude": -0.12,
        "radius_m": 200,
        "window_start": (NOW - timedelta(hours=8)).isoformat(),
        "window_end": (NOW - timedelta(hours=3)).isoformat(),
        "crime_reference": "INC-1",
        "legal_basis": "DPA 2018 s.35",
        "justification": "burglary",
    }
    data.update(overrides)
    with pytest.raises(ValidationError, match=message):
        RequestCreate.model_validate(data)


@pytest.fixture
def fixes_table(engine: Engine) -> object:
    """A stand-in for the positions store's table (the real one arrives with locations)."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE test_access_positions (subject_id UUID, fixed_at TIMESTAMP WITH "
                "TIME ZONE, lat FLOAT, lon FLOAT, flagged BOOLEAN)"
                if engine.dialect.name == "postgresql"
                else "CREATE TABLE test_access_positions (subject_id CHAR(32), fixed_at "
                "DATETIME, lat FLOAT, lon FLOAT, flagged BOOLEAN)"
            )
        )
    yield SqlPositions("test_access_positions")
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE test_access_positions"))


def test_location_inquiry_names_only_subjects_within_radius_and_window(
    sessions: sessionmaker[Session], fixes_table: SqlPositions
) -> None:
    point = (51.5007, -0.1246)
    with transaction(sessions) as session:
        people = _people(session)
        near, far, late, flagged = (factories.subject(session) for _ in range(4))
        rows = [
            (near.id, NOW - timedelta(hours=4), 51.5010, -0.1246, False),  # ~33 m
            (far.id, NOW - timedelta(hours=4), 51.5100, -0.1246, False),  # ~1 km
            (late.id, NOW - timedelta(hours=1), 51.5007, -0.1246, False),  # after the window
            (flagged.id, NOW - timedelta(hours=4), 51.5007, -0.1246, True),  # bad fix
        ]
        insert = text(
            "INSERT INTO test_access_positions VALUES (:s, :t, :lat, :lon, :f)"
        ).bindparams(bindparam("s", type_=Uuid()), bindparam("t", type_=UTCDateTime()))
        for s, t, lat, lon, f in rows:
            session.execute(insert, {"s": s, "t": t, "lat": lat, "lon": lon, "f": f})
        data = RequestCreate.model_validate(
            {
                "kind": "location",
                "latitude": point[0],
                "longitude": point[1],
                "radius_m": 100,
                "window_start": (NOW - timedelta(hours=6)).isoformat(),
                "window_end": (NOW - timedelta(hours=2)).isoformat(),
                "crime_reference": "INC-7",
                "legal_basis": "DPA 2018 s.35",
                "justification": "robbery near the point",
            }
        )
        request = service.file_request(session, principal=people["officer"], data=data, now=NOW)
        grant = service.grant_request(
            session,
            principal=people["approver"],
            request_id=request.id,
            valid_for=timedelta(days=1),
            conditions=None,
            now=NOW,
        )
        entries, subjects = register.disclose_presence(
            session,
            principal=people["officer"],
            grant_id=grant.id,
            now=NOW,
            positions=fixes_table,
        )
    assert [s.id for s in subjects] == [near.id]
    assert [e.subject_id for e in entries] == [near.id]
    assert distance_m(51.5007, -0.1246, 51.5010, -0.1246) == pytest.approx(33.4, abs=1)


def test_police_over_http_file_then_read_under_grant_and_auditor_sees_register(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        police_org = factories.organisation(session, OrganisationKind.police)
        home_office = factories.organisation(session, OrganisationKind.home_office)
        officer = factories.token_for(session, factories.user(session, Role.police, org=police_org))
        approver = factories.token_for(
            session, factories.user(session, Role.approver, org=home_office)
        )
        auditor = factories.token_for(session, factories.user(session, Role.auditor))
        subject = factories.subject(session, pnc_id="12/3456789X")
        subject_id = subject.id
    now = datetime.now(UTC)
    body = _subject_request(
        window_start=(now - timedelta(days=3)).isoformat(),
        window_end=(now - timedelta(days=1)).isoformat(),
    ).model_dump(mode="json")
    filed = client.post("/api/v1/police-requests", json=body, headers=bearer(officer))
    assert filed.status_code == 201, filed.text
    assert "subject_id" not in filed.json() and "12/3456789X" not in filed.text
    assert client.get(f"/api/v1/subjects/{subject_id}", headers=bearer(officer)).status_code == 403
    granted = client.post(
        f"/api/v1/police-requests/{filed.json()['id']}/grant",
        json={"valid_days": 1},
        headers=bearer(approver),
    )
    assert granted.status_code == 201, granted.text
    grant_id = granted.json()["id"]
    read = client.get(
        f"/api/v1/grants/{grant_id}/subject?data_class=orders", headers=bearer(officer)
    )
    assert read.status_code == 200, read.text
    assert read.json()["orders"] == []
    outside = client.get(
        f"/api/v1/grants/{grant_id}/subject?data_class=location_history", headers=bearer(officer)
    )
    assert outside.status_code == 403
    register = client.get(f"/api/v1/disclosures?subject_id={subject_id}", headers=bearer(auditor))
    assert register.status_code == 200
    assert [d["data_class"] for d in register.json()["items"]] == ["orders"]
    assert (
        client.get(f"/api/v1/grants/{uuid.uuid4()}/subject", headers=bearer(officer)).status_code
        == 404
    )
