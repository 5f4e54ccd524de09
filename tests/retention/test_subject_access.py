"""Subject access: one archive with every record class and the access log, nobody else's data."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import AuditEntry
from openem.access.principal import SYSTEM
from openem.access.purposes import Purpose
from openem.crypto.envelope import KeyRing
from openem.errors import NotFound
from openem.locations import service as locations_service
from openem.retention import rights, sar
from openem.retention.models import RightsRequestKind
from openem.retention.registry import exporters
from openem.retention.schedules import build_schedules
from openem.subjects import service as subjects_service
from openem.subjects import wording
from tests.conftest import bearer
from tests.retention.conftest import LONG_AGO, NOW, Enrolled, enrol, watched
from tests.support import factories

SCHEDULES = build_schedules(overrides={}, max_days=2192)


def _export(
    sessions: sessionmaker[Session], person: Enrolled, keyring: KeyRing, data_dir: Path
) -> zipfile.ZipFile:
    with sessions() as session, session.begin():
        archive = sar.export(
            session,
            principal=SYSTEM,
            subject_id=person.subject_id,
            now=NOW,
            data_dir=data_dir,
            keyring=keyring,
            schedules=SCHEDULES,
        )
    return zipfile.ZipFile(io.BytesIO(archive.content))


@pytest.fixture
def two_people(
    sessions: sessionmaker[Session], keyring: KeyRing, tmp_path: Path
) -> tuple[Enrolled, Enrolled]:
    ends = NOW + timedelta(days=10)
    me = enrol(
        sessions,
        ends_at=ends,
        keyring=keyring,
        data_dir=tmp_path,
        language="pl",
        given_name="Zofia",
        family_name="Kowalska",
    )
    other = enrol(
        sessions,
        ends_at=ends,
        keyring=keyring,
        data_dir=tmp_path,
        given_name="Otherperson",
        family_name="Elsewhere",
    )
    with sessions() as session, session.begin():
        locations_service.positions_for_subject(
            session,
            principal=SYSTEM,
            subject_id=me.subject_id,
            start=LONG_AGO,
            end=LONG_AGO + timedelta(days=5),
            purpose=Purpose.welfare_concern,
            purpose_detail="missed call",
            now=NOW,
        )
        subjects_service.get_subject(session, principal=SYSTEM, subject_id=other.subject_id)
        watched(session, me, at=LONG_AGO + timedelta(days=3))
        watched(session, other, at=LONG_AGO + timedelta(days=3))
        rights.record_request(
            session,
            principal=SYSTEM,
            subject_id=me.subject_id,
            kind=RightsRequestKind.restriction,
            detail="contests the accuracy of the trail",
            now=NOW,
        )
    return me, other


def test_archive_holds_every_record_class_and_the_access_log(
    sessions: sessionmaker[Session],
    keyring: KeyRing,
    tmp_path: Path,
    two_people: tuple[Enrolled, Enrolled],
) -> None:
    me, _ = two_people
    archive = _export(sessions, me, keyring, tmp_path)
    names = set(archive.namelist())
    assert {
        "manifest.json",
        "summary.html",
        "summary.pdf",
        "access_log.json",
        "trail.geojson",
        "records/identity.json",
        "records/positions.json",
        "records/device_events.json",
        "records/devices.json",
        "records/reviews.json",
        "records/rights_requests.json",
        "records/privacy_notices.json",
        "records/device_inbox.json",
        "records/photos.json",
        "records/checkin_decisions.json",
        "records/alerts.json",
        "records/disclosures.json",
    } <= names
    sections = json.loads(archive.read("manifest.json"))["sections"]
    assert sections["positions"] == 1 and sections["device_events"] == 1
    assert sections["identity"] == 2 and sections["privacy_notices"] == 1
    assert sections["rights_requests"] == 1 and sections["device_inbox"] == 1
    assert sections["alerts"] == 3 and sections["disclosures"] == 1
    alerts = json.loads(archive.read("records/alerts.json"))
    assert [r["record"] for r in alerts] == ["alert", "evidence", "event"]
    assert alerts[0]["note"] == "called the wearer" and "resolved_by" not in alerts[0]
    assert "actor_id" not in alerts[2]
    [disclosure] = json.loads(archive.read("records/disclosures.json"))
    assert disclosure["data_class"] == "location_history"
    assert disclosure["to_organisation"].startswith("Organisation ")
    assert "crime_reference" not in disclosure and "recipient_id" not in disclosure
    [device] = json.loads(archive.read("records/devices.json"))
    assert device["kind"] == "smartwatch" and device["serial"].startswith("SN-")
    assert device["assigned_at"] and device["unassigned_at"] is None
    assert device["removed_at"] is None and "subject_id" not in device
    [notice] = json.loads(archive.read("records/device_inbox.json"))
    assert notice["kind"] == "notice" and notice["payload"]["language"] == "pl"
    assert archive.read(f"photos/{me.blob_id}.jpg") == b"\xff\xd8fictional photo"
    trail = json.loads(archive.read("trail.geojson"))
    assert trail["type"] == "FeatureCollection"
    log = json.loads(archive.read("access_log.json"))
    reads = [e for e in log if e["action"] == "positions.read"]
    assert reads and reads[0]["purpose"] == "welfare_concern"
    assert reads[0]["purpose_detail"] == "missed call"
    assert archive.read("summary.pdf").startswith(b"%PDF")
    with sessions() as session:
        exported = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "subject.access_export")
        ).all()
    assert [entry.subject_id for entry in exported] == [me.subject_id]


def test_archive_contains_nothing_about_anyone_else(
    sessions: sessionmaker[Session],
    keyring: KeyRing,
    tmp_path: Path,
    two_people: tuple[Enrolled, Enrolled],
) -> None:
    me, other = two_people
    archive = _export(sessions, me, keyring, tmp_path)
    forbidden = [
        str(other.subject_id).encode(),
        str(other.device_id).encode(),
        str(other.order_id).encode(),
        str(other.blob_id).encode(),
        b"Otherperson",
    ]
    for name in archive.namelist():
        content = archive.read(name)
        for marker in forbidden:
            assert marker not in content, name
    assert str(me.subject_id).encode() in archive.read("records/identity.json")


def test_summary_is_in_the_subjects_language_where_translated(
    sessions: sessionmaker[Session],
    keyring: KeyRing,
    tmp_path: Path,
    two_people: tuple[Enrolled, Enrolled],
) -> None:
    me, other = two_people
    polish = _export(sessions, me, keyring, tmp_path).read("summary.html").decode()
    english = _export(sessions, other, keyring, tmp_path).read("summary.html").decode()
    assert 'lang="pl"' in polish and "Kto przeglądał Twoje dane" in polish
    assert 'lang="en"' in english and "Who looked at your data" in english


@pytest.mark.parametrize("language", ["en", "pl"])
def test_every_section_of_the_archive_is_named_in_the_summary(language: str) -> None:
    names = wording.texts(language)["section_names"]
    assert sorted(set(dict(exporters())) | set(sar.EXPECTED)) == sorted(names)


def test_exporting_a_missing_subject_is_a_clear_error(
    sessions: sessionmaker[Session], keyring: KeyRing, tmp_path: Path
) -> None:
    with sessions() as session, pytest.raises(NotFound, match="no such subject"):
        sar.export(
            session,
            principal=SYSTEM,
            subject_id=uuid.uuid4(),
            now=NOW,
            data_dir=tmp_path,
            keyring=keyring,
            schedules=SCHEDULES,
        )


def test_export_over_http_is_for_the_data_protection_officer_only(
    client: TestClient, staff_tokens: dict[str, str]
) -> None:
    caseworker = bearer(staff_tokens["caseworker"])
    subject_id = client.post(
        "/api/v1/subjects", json=factories.subject_data(), headers=caseworker
    ).json()["id"]
    url = f"/api/v1/subjects/{subject_id}/access-export"
    assert client.post(url, headers=caseworker).status_code == 403
    response = client.post(url, headers=bearer(staff_tokens["auditor"]))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert "manifest.json" in zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    missing = client.post(
        f"/api/v1/subjects/{uuid.uuid4()}/access-export", headers=bearer(staff_tokens["auditor"])
    )
    assert missing.status_code == 404
