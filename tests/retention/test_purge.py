"""The purge, with an injected clock: what is due goes everywhere; nothing else is touched."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import AuditEntry, ReviewTask, Role
from openem.access.principal import SYSTEM
from openem.bus.memory import MemoryBus
from openem.bus.outbox import OutboxMessage
from openem.crypto import store
from openem.crypto.envelope import KeyRing
from openem.db.base import Base
from openem.devices import service as devices_service
from openem.devices.models import InboxItem
from openem.devices.schemas import DeviceCreate
from openem.errors import Conflict, NotFound
from openem.ingest.models import DeviceEvent
from openem.locations.models import Position
from openem.retention import holds, purge
from openem.retention.certificates import CERTIFICATE_ACTION, ids_hash
from openem.retention.models import DeletionCertificate
from openem.retention.schedules import build_schedules
from openem.subjects.models import Order, Subject
from tests.retention.conftest import (
    LONG_AGO,
    NOW,
    Enrolled,
    enrol,
    relay_then_queue_more,
    telemetry,
    watched,
)
from tests.support import factories

SCHEDULES = build_schedules(overrides={}, max_days=2192)


def _count(session: Session, model: type, **where: object) -> int:
    query = select(func.count()).select_from(model).filter_by(**where)
    return session.scalar(query) or 0


def _bus_messages_about(bus: MemoryBus, subject_id: object) -> int:
    return sum(
        1
        for stored in bus.log
        if stored.data and json.loads(stored.data).get("subject_id") == str(subject_id)
    )


# Tables that name subjects and are kept on their own terms: the audit trail (its own
# schedule, a prefix of a hash chain), break-glass reviews of staff access (with it), and
# the purge's own queue of bus deletions.
KEPT_ON_THEIR_OWN_TERMS = {"audit_entries", "review_tasks", "bus_purges"}


def _tables_naming(session: Session, subject_id: object) -> dict[str, int]:
    """Every table with a ``subject_id`` column, and how many of its rows name the subject."""
    found = {}
    for name, table in Base.metadata.tables.items():
        if "subject_id" in table.c and name not in KEPT_ON_THEIR_OWN_TERMS:
            query = select(func.count()).select_from(table)
            count = session.scalar(query.where(table.c.subject_id == subject_id)) or 0
            if count:
                found[name] = count
    return found


def _holds_everything(session: Session, person: Enrolled, data_dir: Path) -> bool:
    return (
        session.get(Subject, person.subject_id) is not None
        and {"alerts", "alert_events", "rule_states", "zones", "zone_versions", "grants",
             "police_requests", "disclosures"} <= set(_tables_naming(session, person.subject_id))
        and _count(session, Order, subject_id=person.subject_id) == 1
        and _count(session, Position, subject_id=person.subject_id) == 2
        and _count(session, DeviceEvent, subject_id=person.subject_id) == 2
        and _count(session, InboxItem, subject_id=person.subject_id) == 1
        and session.get(store.BlobRecord, person.blob_id) is not None
        and store.blob_path(data_dir, person.blob_id).exists()
        and person.archive.exists()
    )


@pytest.fixture
def people(
    sessions: sessionmaker[Session], bus: MemoryBus, keyring: KeyRing, tmp_path: Path
) -> dict[str, Enrolled]:
    ended_long_ago = LONG_AGO + timedelta(days=60)  # more than six years before NOW
    people = {
        "due": enrol(sessions, ends_at=ended_long_ago, keyring=keyring, data_dir=tmp_path),
        "recent": enrol(
            sessions, ends_at=NOW - timedelta(days=365), keyring=keyring, data_dir=tmp_path
        ),
        "held": enrol(sessions, ends_at=ended_long_ago, keyring=keyring, data_dir=tmp_path),
    }
    relay_then_queue_more(sessions, bus, list(people.values()))
    with sessions() as session, session.begin():
        for person in people.values():
            watched(session, person, at=LONG_AGO + timedelta(days=3))
        holds.place_hold(
            session,
            principal=SYSTEM,
            subject_id=people["held"].subject_id,
            reason="appeal pending in the tribunal",
            expires_at=NOW + timedelta(days=30),
            now=NOW - timedelta(days=1),
        )
    return people


def test_nothing_due_survives_and_nothing_else_is_touched(
    sessions: sessionmaker[Session],
    bus: MemoryBus,
    people: dict[str, Enrolled],
    tmp_path: Path,
) -> None:
    due, recent, held = people["due"], people["recent"], people["held"]
    assert _bus_messages_about(bus, due.subject_id) == 1
    report = purge.run(sessions, schedules=SCHEDULES, now=NOW, data_dir=tmp_path, batch_size=1)
    assert asyncio.run(purge.drain_bus_purges(sessions, bus)) == 1

    with sessions() as session:
        assert _tables_naming(session, due.subject_id) == {}
        assert session.get(Subject, due.subject_id) is None
        assert _count(session, Order, subject_id=due.subject_id) == 0
        assert _count(session, Position, subject_id=due.subject_id) == 0
        assert _count(session, DeviceEvent, subject_id=due.subject_id) == 0
        assert _count(session, InboxItem, subject_id=due.subject_id) == 0
        assert session.get(store.BlobRecord, due.blob_id) is None
        outbox = session.scalars(select(OutboxMessage.payload)).all()
        assert not [p for p in outbox if str(due.subject_id).encode() in p]
        assert _holds_everything(session, recent, tmp_path)
        assert _holds_everything(session, held, tmp_path)
    assert not store.blob_path(tmp_path, due.blob_id).exists()
    assert not due.archive.exists()
    assert _bus_messages_about(bus, due.subject_id) == 0
    assert _bus_messages_about(bus, recent.subject_id) == 1
    assert _bus_messages_about(bus, held.subject_id) == 1
    assert report.held == 1


def test_certificates_name_class_count_period_and_hash_but_no_personal_data(
    sessions: sessionmaker[Session], people: dict[str, Enrolled], tmp_path: Path
) -> None:
    report = purge.run(sessions, schedules=SCHEDULES, now=NOW, data_dir=tmp_path)
    deleted = report.deleted()
    assert deleted["positions"] == 2 + 1 + 1  # two fixes, an outbox row, an archive file
    assert deleted["enrolment_media"] == 1
    assert deleted["identity"] >= 1
    with sessions() as session:
        certificates = session.scalars(select(DeletionCertificate)).all()
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == CERTIFICATE_ACTION)
        ).all()
    assert {c.data_class for c in certificates} >= {"positions", "device_events", "identity"}
    assert len(entries) == len(certificates)
    for entry in entries:
        body = json.loads(entry.purpose_detail or "{}")
        assert set(body) >= {"data_class", "count", "retention_days", "cutoff", "ids_sha256"}
        assert entry.subject_id is None
        for person in people.values():
            assert str(person.subject_id) not in (entry.purpose_detail or "")
    positions = next(c for c in certificates if c.data_class == "positions")
    assert positions.retention_days == 2192 and len(positions.ids_sha256) == 64


def test_a_second_purge_finds_nothing_more(
    sessions: sessionmaker[Session], people: dict[str, Enrolled], tmp_path: Path
) -> None:
    purge.run(sessions, schedules=SCHEDULES, now=NOW, data_dir=tmp_path)
    again = purge.run(sessions, schedules=SCHEDULES, now=NOW, data_dir=tmp_path)
    assert again.certificates == []


def test_old_audit_entries_go_but_certificates_and_held_subjects_entries_stay(
    sessions: sessionmaker[Session], people: dict[str, Enrolled], tmp_path: Path
) -> None:
    purge.run(sessions, schedules=SCHEDULES, now=NOW, data_dir=tmp_path)
    with sessions() as session:
        left = session.scalars(select(AuditEntry)).all()
    assert {e.subject_id for e in left if e.subject_id} == {people["held"].subject_id}
    assert any(e.action == CERTIFICATE_ACTION for e in left)


def test_resolved_break_glass_reviews_go_with_the_audit_trail(
    sessions: sessionmaker[Session], people: dict[str, Enrolled], tmp_path: Path
) -> None:
    old, recent = LONG_AGO, NOW - timedelta(days=30)
    with sessions() as session, session.begin():
        actor = factories.user(session, Role.caseworker).id

        def review(subject: str, at: datetime, *, resolved: bool) -> None:
            session.add(ReviewTask(
                kind="break_glass", subject_id=people[subject].subject_id, actor_id=actor,
                data_class="location_history", reason="urgent welfare check", status="open",
                created_at=at, resolved_at=at if resolved else None))

        review("due", old, resolved=True)
        review("due", old, resolved=False)  # still waits for a supervisor
        review("held", old, resolved=True)
        review("recent", recent, resolved=True)
    purge.run(sessions, schedules=SCHEDULES, now=NOW, data_dir=tmp_path)
    with sessions() as session:
        left = session.execute(select(ReviewTask.subject_id, ReviewTask.resolved_at)).all()
    assert sorted((str(subject), resolved is None) for subject, resolved in left) == sorted([
        (str(people["due"].subject_id), True),
        (str(people["held"].subject_id), False),
        (str(people["recent"].subject_id), False),
    ])


def test_purging_a_subject_under_hold_is_refused_and_deletes_nothing(
    sessions: sessionmaker[Session], people: dict[str, Enrolled], tmp_path: Path
) -> None:
    held = people["held"]
    with pytest.raises(Conflict, match="legal hold"):
        purge.run(
            sessions, schedules=SCHEDULES, now=NOW, data_dir=tmp_path, subject_id=held.subject_id
        )
    with sessions() as session:
        assert _holds_everything(session, held, tmp_path)
        assert _count(session, DeletionCertificate) == 0


def test_a_released_or_expired_hold_no_longer_stops_the_purge(
    sessions: sessionmaker[Session], people: dict[str, Enrolled], tmp_path: Path
) -> None:
    held = people["held"]
    later = NOW + timedelta(days=31)
    purge.run(
        sessions, schedules=SCHEDULES, now=later, data_dir=tmp_path, subject_id=held.subject_id
    )
    with sessions() as session:
        assert session.get(Subject, held.subject_id) is None
        assert _holds_everything(session, people["recent"], tmp_path)


def test_purging_a_missing_subject_is_a_clear_error(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    import uuid

    with pytest.raises(NotFound, match="no such subject"):
        purge.run(
            sessions, schedules=SCHEDULES, now=NOW, data_dir=tmp_path, subject_id=uuid.uuid4()
        )


def test_a_shorter_schedule_for_positions_purges_only_positions(
    sessions: sessionmaker[Session], people: dict[str, Enrolled], tmp_path: Path
) -> None:
    short = build_schedules(overrides={"positions": 300}, max_days=2192)
    purge.run(sessions, schedules=short, now=NOW, data_dir=tmp_path)  # ended 365 days ago
    recent = people["recent"]
    with sessions() as session:
        assert _count(session, Position, subject_id=recent.subject_id) == 0
        assert _count(session, DeviceEvent, subject_id=recent.subject_id) == 2
        assert session.get(Subject, recent.subject_id) is not None


def test_hash_of_ids_does_not_depend_on_order() -> None:
    assert ids_hash(["b:1", "a:2"]) == ids_hash(["a:2", "b:1"])
    assert ids_hash(["a:1"]) != ids_hash(["a:2"])


def test_holds_are_listed_for_review_soonest_expiry_first(
    sessions: sessionmaker[Session], people: dict[str, Enrolled]
) -> None:
    with sessions() as session:
        listed = holds.list_holds(session, principal=SYSTEM, now=NOW)
    assert [h.subject_id for h in listed] == [people["held"].subject_id]
    assert listed[0].reason and listed[0].expires_at > NOW


def test_telemetry_from_a_device_serving_no_order_is_kept_thirty_days(
    sessions: sessionmaker[Session], people: dict[str, Enrolled], tmp_path: Path,
) -> None:
    with sessions() as session, session.begin():
        device = devices_service.register_device(
            session, principal=SYSTEM, data=DeviceCreate(kind="fitted_tag", serial="SN-STOCK-1")
        )
        telemetry(session, device, at=NOW - timedelta(days=31), seq=1)
        telemetry(session, device, at=NOW - timedelta(days=29), seq=3)
        stock = device.id
    recent = people["recent"]
    report = purge.run(sessions, schedules=SCHEDULES, now=NOW, data_dir=tmp_path, batch_size=1)

    [certificate] = [c for c in report.certificates if c.data_class == "unattributed_telemetry"]
    assert (certificate.count, certificate.retention_days, certificate.event) == (2, 30, "recorded")
    with sessions() as session:
        assert _count(session, Position, device_id=stock) == 1
        assert _count(session, DeviceEvent, device_id=stock) == 1
        assert _count(session, Position, subject_id=recent.subject_id) == 2
        assert _count(session, DeviceEvent, subject_id=recent.subject_id) == 2
