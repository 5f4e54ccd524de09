"""Pairing codes: fifteen minutes, single use, the latest only; pairing again replaces the key.
A device out of service gets neither a code nor a tracker-app secret."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from openem.access.principal import SYSTEM
from openem.devices import pairing
from openem.devices import service as devices_service
from openem.devices.models import DeviceState
from openem.devices.schemas import DeviceCreate, DeviceUpdate
from openem.errors import Invalid
from openem.sim.signer import generate_device_key_pair
from tests.support import factories

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _device(sessions: sessionmaker[Session]) -> tuple[uuid.UUID, str]:
    serial = f"PAIR-{uuid.uuid4().hex[:8]}"
    with sessions() as session, session.begin():
        device = devices_service.register_device(
            session, principal=SYSTEM, data=DeviceCreate(kind="fitted_tag", serial=serial)
        )
        return device.id, serial


def _code(sessions: sessionmaker[Session], device_id: uuid.UUID, *, at: datetime) -> str:
    with sessions() as session, session.begin():
        return pairing.issue_pairing_code(
            session, principal=SYSTEM, device_id=device_id, now=at
        ).code


def _pair(
    sessions: sessionmaker[Session], serial: str, code: str, *, at: datetime,
    key: bytes | None = None,
) -> bool:
    key = key or generate_device_key_pair(device_id=str(uuid.uuid4())).public_key_raw()
    with sessions() as session, session.begin():
        paired = pairing.pair_device(session, serial=serial, code=code, public_key=key, now=at)
        return paired is not None


def test_a_code_works_for_fifteen_minutes_and_not_a_moment_longer(
    sessions: sessionmaker[Session],
) -> None:
    device_id, serial = _device(sessions)
    code = _code(sessions, device_id, at=T0)
    assert not _pair(sessions, serial, code, at=T0 + timedelta(minutes=15))
    late = _code(sessions, device_id, at=T0)
    assert _pair(sessions, serial, late, at=T0 + timedelta(minutes=14, seconds=59))


def test_a_new_code_cancels_the_one_before(sessions: sessionmaker[Session]) -> None:
    device_id, serial = _device(sessions)
    first = _code(sessions, device_id, at=T0)
    second = _code(sessions, device_id, at=T0 + timedelta(minutes=1))
    assert not _pair(sessions, serial, first, at=T0 + timedelta(minutes=2))
    assert _pair(sessions, serial, second, at=T0 + timedelta(minutes=2))


def test_the_code_is_read_as_a_technician_types_it(sessions: sessionmaker[Session]) -> None:
    device_id, serial = _device(sessions)
    code = _code(sessions, device_id, at=T0)
    assert _pair(sessions, serial, f"  {code.lower()} ", at=T0 + timedelta(minutes=1))


def test_pairing_again_replaces_the_key(sessions: sessionmaker[Session]) -> None:
    device_id, serial = _device(sessions)
    old = generate_device_key_pair(device_id=str(device_id)).public_key_raw()
    new = generate_device_key_pair(device_id=str(device_id)).public_key_raw()
    assert _pair(sessions, serial, _code(sessions, device_id, at=T0), at=T0, key=old)
    later = T0 + timedelta(hours=1)
    assert _pair(sessions, serial, _code(sessions, device_id, at=later), at=later, key=new)
    with sessions() as session:
        live = pairing.active_key(session, device_id)
    assert live is not None
    assert live.public_key.public_bytes_raw() == new


def test_a_wrong_serial_or_key_is_refused_and_the_code_still_works(
    sessions: sessionmaker[Session],
) -> None:
    device_id, serial = _device(sessions)
    code = _code(sessions, device_id, at=T0)
    assert not _pair(sessions, "NO-SUCH-SERIAL", code, at=T0)
    with sessions() as session, pytest.raises(Invalid, match="32-byte Ed25519"):
        pairing.pair_device(session, serial=serial, code=code, public_key=b"short", now=T0)
    assert _pair(sessions, serial, code, at=T0)


@pytest.mark.parametrize("state", [DeviceState.faulty, DeviceState.retired])
def test_a_faulty_or_retired_device_gets_no_code_and_no_tracker_secret(
    state: DeviceState, sessions: sessionmaker[Session]
) -> None:
    device_id, _ = _device(sessions)
    with sessions() as session, session.begin():
        if state == DeviceState.retired:
            pairing.retire_device(session, principal=SYSTEM, device_id=device_id, now=T0)
        else:
            devices_service.update_device(session, principal=SYSTEM, device_id=device_id,
                                          data=DeviceUpdate(state=state), now=T0)
    with sessions() as session, pytest.raises(Invalid, match=f"a {state} device"):
        pairing.issue_pairing_code(session, principal=SYSTEM, device_id=device_id, now=T0)
    with sessions() as session, pytest.raises(Invalid, match=f"a {state} device"):
        pairing.issue_tracker_secret(session, principal=SYSTEM, device_id=device_id, now=T0)


@pytest.mark.parametrize("mode", ["full_trail", "curfew_only"])
def test_a_live_device_carries_the_term_and_mode_of_the_order_it_serves(
    mode: str, sessions: sessionmaker[Session]
) -> None:
    device_id, serial = _device(sessions)
    assert _pair(sessions, serial, _code(sessions, device_id, at=T0), at=T0)
    with sessions() as session:
        unassigned = pairing.active_key(session, device_id)
    assert unassigned is not None and unassigned.order_term is None
    starts, ends = T0 - timedelta(days=1), T0 + timedelta(days=90)
    with sessions() as session, session.begin():
        order = factories.order(
            session, factories.subject(session).id, device_kind="fitted_tag", checkins_per_day=0,
            monitoring_mode=mode, starts_at=starts.isoformat(), ends_at=ends.isoformat(),
        )
        devices_service.assign_device(session, principal=SYSTEM, device_id=device_id,
                                      order_id=order.id, now=T0)
    with sessions() as session:
        live = pairing.active_key(session, device_id)
    assert live is not None and live.order_id == order.id
    assert live.order_term == pairing.OrderTerm(starts, ends, full_trail=mode == "full_trail")
    assert live.order_term.keeps_all(starts, ends - timedelta(microseconds=1)) == (
        mode == "full_trail")
    assert not live.order_term.keeps_all(starts - timedelta(microseconds=1), T0)
    assert not live.order_term.keeps_all(T0, ends)
