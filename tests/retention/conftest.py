"""Enrolled subjects with telemetry, blobs and archives, built through the services."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import OrganisationKind, Role
from openem.access.principal import SYSTEM
from openem.alerts.models import Alert, AlertEvent, AlertEvidence
from openem.bus.memory import MemoryBus
from openem.bus.outbox import relay_once
from openem.crypto import store
from openem.crypto.envelope import KeyRing, generate_keyring
from openem.devices import service as devices_service
from openem.devices.models import Device
from openem.devices.schemas import DeviceCreate
from openem.disclosures.models import Disclosure, Grant, PoliceRequest
from openem.ingest.items import parse_batch
from openem.ingest.service import ingest
from openem.rules.models import RuleState
from openem.zones.models import Zone, ZoneVersion
from tests.support import factories

# The injected clock: seven years after these tests' orders started.
NOW = datetime(2033, 6, 1, 12, 0, tzinfo=UTC)
LONG_AGO = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class Enrolled:
    subject_id: uuid.UUID
    order_id: uuid.UUID
    device_id: uuid.UUID
    blob_id: uuid.UUID
    archive: Path


def telemetry(session: Session, device: Device, *, at: datetime, seq: int) -> None:
    raw = {
        "items": [
            {
                "type": "position",
                "seq": seq,
                "ts": (at - timedelta(seconds=30)).isoformat(),
                "lat": 51.5,
                "lon": -0.12,
                "accuracy_m": 8.0,
                "source": "gnss",
            },
            {
                "type": "battery",
                "seq": seq + 1,
                "ts": at.isoformat(),
                "level": 80,
                "charging": False,
            },
        ]
    }
    parsed = parse_batch(raw, now=at)
    ingest(session, device=device, items=parsed.items, rejected=parsed.rejected, now=at)


def watched(session: Session, person: Enrolled, *, at: datetime) -> None:
    """What working a case leaves about a person: an alert with its evidence and history,
    the rules' state, a zone, and a police request granted and disclosed."""
    alert = Alert(subject_id=person.subject_id, type="exclusion_zone", alert_class="compliance",
                  priority=2, key=f"zone:{uuid.uuid4()}", device_id=person.device_id,
                  started_at=at, detail={}, raised_at=at, updated_at=at, note="called the wearer")
    session.add(alert)
    session.flush()
    session.add_all([
        AlertEvidence(alert_id=alert.id, kind="position", ref="1", device_id=person.device_id,
                      seq=1, at=at),
        AlertEvent(alert_id=alert.id, subject_id=person.subject_id, action="raised", at=at,
                   detail={}),
        RuleState(subject_id=person.subject_id, rule="zone", key=str(uuid.uuid4()),
                  data={"inside": True}, updated_at=at),
    ])
    zone = Zone(subject_id=person.subject_id, kind="exclusion", created_at=at)
    session.add(zone)
    session.flush()
    session.add(ZoneVersion(zone_id=zone.id, subject_id=person.subject_id, version=1,
                            name="Victim's street", kind="exclusion", valid_from=at,
                            shape={"type": "circle", "lat": 51.5, "lon": -0.12, "radius_m": 200}))
    police = factories.user(session, Role.police, team=None,
                            org=factories.organisation(session, kind=OrganisationKind.police))
    approver = factories.user(session, Role.supervisor, team=None)
    request = PoliceRequest(
        kind="subject", status="granted", requester_id=police.id,
        requester_organisation_id=police.organisation_id, subject_id=person.subject_id,
        data_classes="location_history", window_start=at, window_end=at + timedelta(hours=1),
        crime_reference="CR/1/26", legal_basis="DPA 2018 s.35", justification="burglary",
        created_at=at, decided_by=approver.id, decided_at=at)
    session.add(request)
    session.flush()
    grant = Grant(request_id=request.id, grantee_id=police.id,
                  grantee_organisation_id=police.organisation_id, approver_id=approver.id,
                  subject_id=person.subject_id, data_classes="location_history",
                  window_start=at, window_end=at + timedelta(hours=1), granted_at=at,
                  expires_at=at + timedelta(days=7))
    session.add(grant)
    session.flush()
    session.add(Disclosure(
        grant_id=grant.id, request_id=request.id, subject_id=person.subject_id,
        data_class="location_history", record_count=1, recipient_id=police.id,
        recipient_organisation_id=police.organisation_id, approver_id=approver.id,
        legal_basis="DPA 2018 s.35", crime_reference="CR/1/26", window_start=at,
        window_end=at + timedelta(hours=1), disclosed_at=at))


def enrol(
    sessions: sessionmaker[Session],
    *,
    ends_at: datetime,
    keyring: KeyRing,
    data_dir: Path,
    **subject_overrides: object,
) -> Enrolled:
    start = LONG_AGO
    with sessions() as session, session.begin():
        subject = factories.subject(session, **subject_overrides)
        order = factories.order(
            session, subject.id, starts_at=start.isoformat(), ends_at=ends_at.isoformat()
        )
        device = devices_service.register_device(
            session,
            principal=SYSTEM,
            data=DeviceCreate(kind="smartwatch", serial=f"SN-{uuid.uuid4().hex[:10]}"),
        )
        devices_service.assign_device(
            session, principal=SYSTEM, device_id=device.id, order_id=order.id, now=start
        )
        telemetry(session, device, at=start + timedelta(days=1), seq=1)
        blob = store.put(
            session,
            keyring=keyring,
            data_dir=data_dir,
            subject_id=subject.id,
            data_class="enrolment_media",
            media_type="image/jpeg",
            plaintext=b"\xff\xd8fictional photo",
            now=start,
        )
        ids = (subject.id, order.id, device.id, blob.id)
    archive = data_dir / "archives" / str(ids[0]) / "2026-01.parquet"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"fictional archived trail")
    return Enrolled(*ids, archive=archive)


def relay_then_queue_more(
    sessions: sessionmaker[Session], bus: MemoryBus, people: list[Enrolled]
) -> None:
    """Each person: one telemetry batch on the bus, a second still in the outbox."""
    asyncio.run(relay_once(sessions, bus))
    with sessions() as session, session.begin():
        for person in people:
            device = session.get(Device, person.device_id)
            assert device is not None
            telemetry(session, device, at=LONG_AGO + timedelta(days=2), seq=3)


@pytest.fixture
def keyring() -> KeyRing:
    return generate_keyring()


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()
