"""Each item a device sends is stored as the holder's it served when the item was taken
(an order's subject, or nobody), whatever it serves by the time the item arrives."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.principal import SYSTEM
from openem.devices import service as devices_service
from openem.devices.models import Device
from openem.devices.schemas import DeviceCreate
from openem.ingest.items import parse_batch
from openem.ingest.service import BEFORE_ASSIGNMENT, ingest
from openem.locations.models import Position
from tests.support import factories

NOW = datetime.now(UTC).replace(microsecond=0)
DROPPED = "dropped"
Served = list[tuple[datetime, datetime | None, uuid.UUID]]  # (from, until, subject)


def _hand_over(session: Session, changes: list[datetime]) -> tuple[uuid.UUID, Served]:
    """A tag put on an order at ``changes[0]``, taken off at ``changes[1]``, put on the
    next subject's order at ``changes[2]`` and so on; returns it and its assignments."""
    device = devices_service.register_device(
        session, principal=SYSTEM,
        data=DeviceCreate(kind="fitted_tag", serial=f"ATTR-{uuid.uuid4().hex[:12]}"),
    )
    served: Served = []
    for index, at in enumerate(changes):
        if index % 2 == 0:
            subject = factories.subject(session)
            order = factories.order(session, subject.id, device_kind="fitted_tag",
                                    checkins_per_day=0,
                                    starts_at=(NOW - timedelta(days=3)).isoformat())
            devices_service.assign_device(session, principal=SYSTEM, device_id=device.id,
                                          order_id=order.id, now=at)
            served.append((at, None, subject.id))
        else:
            devices_service.unassign_device(session, principal=SYSTEM, device_id=device.id,
                                            now=at)
            since, _, subject_id = served[-1]
            served[-1] = (since, at, subject_id)
    return device.id, served


def _expected(at: datetime, served: Served, on_an_order_now: bool) -> uuid.UUID | str | None:
    for since, until, subject_id in served:
        if since <= at and (until is None or at < until):
            return subject_id
    return DROPPED if on_an_order_now else None


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hours_ago=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=4,
                       unique=True),
    minutes_ago=st.lists(st.integers(min_value=0, max_value=45 * 60), min_size=1,
                         max_size=12),
)
def test_every_item_is_its_holders_of_when_it_was_taken(
    sessions: sessionmaker[Session], hours_ago: list[int], minutes_ago: list[int]
) -> None:
    changes = [NOW - timedelta(hours=h) for h in sorted(hours_ago, reverse=True)]
    taken = [NOW - timedelta(minutes=m) for m in minutes_ago]
    with sessions() as session, session.begin():
        device_id, served = _hand_over(session, changes)
    items = [{"type": "position", "seq": seq, "ts": at.isoformat(), "lat": 51.5,
              "lon": -0.12, "accuracy_m": 5.0} for seq, at in enumerate(taken, start=1)]
    parsed = parse_batch({"items": items}, now=NOW)
    with sessions() as session, session.begin():
        device = session.get(Device, device_id)
        assert device is not None
        result = ingest(session, device=device, items=parsed.items, rejected=[], now=NOW)
    with sessions() as session:
        stored = {seq: subject_id for seq, subject_id in session.execute(
            select(Position.seq, Position.subject_id).where(Position.device_id == device_id))}
    dropped = {seq for seq, reason in result.dropped if reason == BEFORE_ASSIGNMENT}
    assert not set(stored) & dropped
    on_an_order_now = len(changes) % 2 == 1
    for seq, at in enumerate(taken, start=1):
        holder = DROPPED if seq in dropped else stored[seq]
        assert holder == _expected(at, served, on_an_order_now), (seq, at)
    assert sorted(result.accepted) == sorted(stored)
