"""Storing uploads: plans worked out before the write transaction are used only while
they still hold, and duplicates are settled from what was really stored."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.principal import SYSTEM
from openem.bus.outbox import OutboxMessage
from openem.devices import pairing
from openem.devices import service as devices_service
from openem.devices.models import Device, DeviceHealth
from openem.devices.schemas import DeviceCreate
from openem.ingest.items import parse_batch
from openem.ingest.service import (
    IngestResult,
    Plan,
    Upload,
    ingest_many,
    plan_upload,
    read_health,
    read_health_rows,
)
from openem.locations.models import Position
from openem.sim.signer import generate_device_key_pair
from tests.support import factories

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Sender:
    id: uuid.UUID
    subject_id: uuid.UUID | None = None
    order_id: uuid.UUID | None = None
    serving_since: datetime | None = None


def _device(sessions: sessionmaker[Session]) -> Sender:
    with sessions() as session, session.begin():
        device = devices_service.register_device(
            session, principal=SYSTEM,
            data=DeviceCreate(kind="fitted_tag", serial=f"PLAN-{time.time_ns()}"),
        )
        return Sender(device.id)


def _upload(device: Sender, *fixes: tuple[int, float, float, datetime]) -> Upload:
    items = [
        {"type": "position", "seq": seq, "ts": ts.isoformat(), "lat": lat, "lon": lon,
         "accuracy_m": 5.0}
        for seq, lat, lon, ts in fixes
    ]
    parsed = parse_batch({"items": items}, now=NOW)
    assert not parsed.rejected
    return Upload(device=device, items=parsed.items, rejected=[], now=NOW)


def _plan(sessions: sessionmaker[Session], upload: Upload) -> Plan:
    with sessions() as session:
        healths = read_health_rows(session, [upload.device.id])
        dialect = session.get_bind().dialect.name
    return plan_upload(upload, healths, dialect=dialect)


def _store(
    sessions: sessionmaker[Session], uploads: list[Upload], plans: list[Plan] | None = None
) -> list[IngestResult]:
    with sessions() as session, session.begin():
        return ingest_many(session, uploads, plans=plans)


def test_a_plan_made_against_health_that_has_since_changed_is_worked_out_again(
    sessions: sessionmaker[Session],
) -> None:
    device = _device(sessions)
    london = _upload(device, (2, 51.5007, -0.1246, NOW - timedelta(seconds=30)))
    stale = _plan(sessions, london)  # no previous fix yet: nothing to flag
    assert stale.pending.flagged == {}
    paris = _upload(device, (1, 48.8566, 2.3522, NOW - timedelta(seconds=60)))
    _store(sessions, [paris])

    [result] = _store(sessions, [london], plans=[stale])

    # Paris to London in 30 seconds: flagged against the fix stored after the plan.
    assert result.accepted == [2]
    assert result.flagged == {2: ["implied_speed"]}
    with sessions() as session:
        assert session.scalars(select(Position.flags).where(Position.seq == 2)).one() == (
            "implied_speed"
        )


def test_a_plan_made_before_the_device_had_health_is_stale_once_it_has_some(
    sessions: sessionmaker[Session],
) -> None:
    device = _device(sessions)
    upload = _upload(device, (2, 51.5007, -0.1246, NOW - timedelta(seconds=30)))
    stale = _plan(sessions, upload)
    assert stale.health_stored is None and stale.health_read["last_seen_at"] is None
    _store(sessions, [_upload(device, (1, 48.8566, 2.3522, NOW - timedelta(seconds=60)))])

    [result] = _store(sessions, [upload], plans=[stale])

    assert result is not stale.pending.result
    assert result.flagged == {2: ["implied_speed"]}


def test_health_as_stored_types_as_the_orm_reads_it(sessions: sessionmaker[Session]) -> None:
    device, other = _device(sessions), _device(sessions)
    _store(sessions, [_upload(device, (1, 51.5007, -0.1246, NOW - timedelta(seconds=60)))])
    with sessions() as session:
        rows = read_health_rows(session, [device.id, other.id])
        stored = session.get(DeviceHealth, device.id)
        assert stored is not None
        assert rows.stored(device.id) is not None and rows.stored(other.id) is None
        assert rows.health(device.id) == {
            column.name: getattr(stored, column.name) for column in DeviceHealth.__table__.c
        }
        assert rows.health(other.id)["device_id"] == other.id
        assert rows.health(other.id)["last_fix_at"] is None


def test_a_plan_still_current_is_stored_as_planned(sessions: sessionmaker[Session]) -> None:
    device = _device(sessions)
    upload = _upload(device, (1, 51.5007, -0.1246, NOW - timedelta(seconds=60)),
                     (2, 51.5008, -0.1246, NOW - timedelta(seconds=30)))
    plan = _plan(sessions, upload)

    [result] = _store(sessions, [upload], plans=[plan])

    assert result is plan.pending.result
    assert result.accepted == [1, 2] and result.duplicates == []
    with sessions() as session:
        health = read_health(session, [device.id])[device.id]
    assert health["last_fix_lat"] == 51.5008


def test_items_already_stored_are_duplicates_and_left_out_of_health_and_the_event(
    sessions: sessionmaker[Session],
) -> None:
    device = _device(sessions)
    later = (3, 51.5009, -0.1246, NOW - timedelta(seconds=10))
    _store(sessions, [_upload(device, later)])
    upload = _upload(device, (1, 51.5007, -0.1246, NOW - timedelta(seconds=60)),
                     (2, 51.5008, -0.1246, NOW - timedelta(seconds=30)), later)
    plan = _plan(sessions, upload)

    [result] = _store(sessions, [upload], plans=[plan])

    assert result.accepted == [1, 2] and result.duplicates == [3]
    with sessions() as session:
        payloads = session.scalars(select(OutboxMessage.payload).order_by(OutboxMessage.id))
        events = [json.loads(payload) for payload in payloads]
        health = read_health(session, [device.id])[device.id]
    assert [[item["seq"] for item in event["items"]] for event in events] == [[3], [1, 2]]
    # The stored fix 3 is the latest: the older fixes 1 and 2 do not replace it.
    assert health["last_fix_lat"] == 51.5009


def test_the_event_carries_every_item_as_the_model_serialises_it_with_its_flags(
    sessions: sessionmaker[Session],
) -> None:
    device = _device(sessions)
    upload = _upload(device, (1, 51.5007, -0.1246, NOW - timedelta(seconds=60)),
                     (2, 0.0, 0.0, NOW - timedelta(seconds=30)))

    _store(sessions, [upload])

    with sessions() as session:
        event = json.loads(session.scalars(select(OutboxMessage.payload)).one())
    assert event["device_id"] == str(device.id)
    assert event["subject_id"] is None and event["order_id"] is None
    assert datetime.fromisoformat(event["received_at"]) == NOW
    expected = [
        item.model_dump(mode="json") | {"flags": flags}
        for item, flags in zip(upload.items, [[], ["implied_speed", "null_island"]], strict=True)
    ]
    assert event["items"] == expected


@pytest.mark.parametrize("mode", ["full_trail", "curfew_only", "checkin_only"])
def test_the_order_read_with_the_devices_key_keeps_the_fixes_the_order_itself_keeps(
    mode: str, sessions: sessionmaker[Session],
) -> None:
    """The writer's devices carry their order's term and mode; other callers' devices do not,
    and the order is looked up. Both keep the same fixes: those inside its term, under a
    mode that keeps them (a curfew-only order without curfew hours keeps none)."""
    starts, ends = NOW - timedelta(hours=2), NOW + timedelta(minutes=2)
    with sessions() as session, session.begin():
        order = factories.order(
            session, factories.subject(session).id, device_kind="fitted_tag", checkins_per_day=0,
            monitoring_mode=mode, starts_at=starts.isoformat(), ends_at=ends.isoformat(),
        )
        device = devices_service.register_device(
            session, principal=SYSTEM,
            data=DeviceCreate(kind="fitted_tag", serial=f"TERM-{time.time_ns()}"))
        code = pairing.issue_pairing_code(session, principal=SYSTEM, device_id=device.id,
                                          now=NOW).code
        key = generate_device_key_pair(device_id=str(device.id)).public_key_raw()
        pairing.pair_device(session, serial=device.serial, code=code, public_key=key, now=NOW)
        devices_service.assign_device(session, principal=SYSTEM, device_id=device.id,
                                      order_id=order.id, now=NOW - timedelta(hours=3))
        device_id = device.id
    readers = {"with its key": lambda s: pairing.active_key(s, device_id),
               "as stored": lambda s: s.get(Device, device_id)}
    taken = [starts - timedelta(minutes=1), starts, NOW, ends - timedelta(seconds=1), ends,
             ends + timedelta(minutes=1)]
    for seq, at in enumerate(taken, start=1):
        kept = {}
        for name, read in readers.items():
            with sessions() as session:
                result = ingest_many(session, [_upload(read(session), (seq, 51.5, -0.12, at))])[0]
                kept[name] = (result.accepted, result.dropped)
                session.rollback()
        assert kept["with its key"] == kept["as stored"], at
        inside = mode == "full_trail" and starts <= at < ends
        assert kept["as stored"][0] == ([seq] if inside else []), at
