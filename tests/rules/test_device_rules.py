"""Battery welfare warnings, tamper, removal, signal loss and silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import AuditEntry
from openem.alerts.types import AlertType
from openem.db.session import transaction
from openem.devices.models import Device, DeviceAssignment
from openem.devices.service import assigned_health
from openem.ingest.models import DeviceEvent
from openem.subjects.models import Order
from tests.support.rules import HOME, Wearer, minutes, wearer

T0 = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
TAMPER = {AlertType.strap_tamper, AlertType.case_tamper, AlertType.device_removed}


def test_low_battery_warns_the_wearer_at_each_tier_before_any_technical_alert(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    for i, level in enumerate((40, 29, 25, 14, 5)):
        w.send([w.item("battery", T0 + minutes(i), level=level, charging=False)],
               received_at=T0 + minutes(i))
        if level > 5:
            assert w.alerts() == []
    warnings = [i.payload for i in w.inbox() if i.kind == "message"]
    assert [p["tier"] for p in warnings] == [30, 15, 5]
    assert warnings[0]["text"] == "Battery at 29%. Please charge your device now."
    assert {p["language"] for p in warnings} == {"en"}
    [alert] = w.alerts()
    assert alert.type == AlertType.battery_low and alert.alert_class == "technical"
    assert max(i.created_at for i in w.inbox()) <= alert.raised_at
    w.send([w.item("battery", T0 + minutes(10), level=6, charging=True)],
           received_at=T0 + minutes(10))
    assert w.alerts()[0].ended_at == T0 + minutes(10)


def test_a_battery_that_dies_is_silence_never_tamper(sessions: sessionmaker[Session]) -> None:
    w = wearer(sessions, start=T0)
    w.send([w.item("battery", T0, level=2, charging=False), w.fix(T0, HOME)], received_at=T0)
    w.sweep(T0 + minutes(31))
    types = {a.type for a in w.alerts()}
    assert types == {AlertType.battery_low, AlertType.device_silent}
    assert not types & TAMPER
    silent = next(a for a in w.alerts() if a.type == AlertType.device_silent)
    assert silent.alert_class == "technical"
    assert silent.detail["last_battery_level"] == 2


def test_strap_cut_and_case_opened_are_tamper_until_restored(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    w.send([w.item("strap", T0 + minutes(1), state="cut"),
            w.item("case", T0 + minutes(1), state="opened")], received_at=T0 + minutes(1))
    w.send([w.item("strap", T0 + minutes(2), state="opened")], received_at=T0 + minutes(2))
    alerts = {a.type: a for a in w.alerts()}
    assert set(alerts) == {AlertType.strap_tamper, AlertType.case_tamper}
    assert all(a.alert_class == "compliance" for a in alerts.values())
    assert len(w.evidence(alerts[AlertType.strap_tamper])) == 2
    w.send([w.item("strap", T0 + minutes(3), state="intact")], received_at=T0 + minutes(3))
    strap = next(a for a in w.alerts() if a.type == AlertType.strap_tamper)
    assert strap.ended_at == T0 + minutes(3)


def test_watch_taken_off_raises_device_removed(sessions: sessionmaker[Session]) -> None:
    w = wearer(sessions, start=T0)
    w.send([w.item("worn", T0 + minutes(1), worn=False)], received_at=T0 + minutes(1))
    w.send([w.item("worn", T0 + minutes(1.5), worn=False)], received_at=T0 + minutes(2))
    [alert] = w.alerts()
    assert alert.type == AlertType.device_removed
    w.send([w.item("worn", T0 + minutes(4), worn=True)], received_at=T0 + minutes(4))
    assert w.alerts()[0].ended_at == T0 + minutes(4)


def test_signal_loss_is_a_device_talking_without_fixes(sessions: sessionmaker[Session]) -> None:
    w = wearer(sessions, start=T0)
    w.send([w.fix(T0, HOME)], received_at=T0)
    for m in (5, 10, 15, 20, 25):
        w.send([w.item("heartbeat", T0 + minutes(m))], received_at=T0 + minutes(m))
    w.sweep(T0 + minutes(25))
    [alert] = w.alerts()
    assert alert.type == AlertType.signal_loss and alert.alert_class == "technical"
    assert alert.started_at == T0
    w.sweep(T0 + minutes(26))
    assert len(w.alerts()) == 1
    w.send([w.fix(T0 + minutes(27), HOME)], received_at=T0 + minutes(27))
    assert w.alerts()[0].ended_at == T0 + minutes(27)


def test_device_silent_is_nothing_at_all(sessions: sessionmaker[Session]) -> None:
    w = wearer(sessions, start=T0)
    w.send([w.fix(T0, HOME)], received_at=T0)
    w.sweep(T0 + minutes(29))
    assert w.alerts() == []
    w.sweep(T0 + minutes(35))
    [alert] = w.alerts()
    assert alert.type == AlertType.device_silent
    w.send([w.item("heartbeat", T0 + minutes(40))], received_at=T0 + minutes(40))
    assert w.alerts()[0].ended_at == T0 + minutes(40)


def _end_order(sessions: sessionmaker[Session], w: Wearer, *, at: datetime) -> None:
    with transaction(sessions) as session:
        _order(session, w).ends_at = at


def _order(session: Session, w: Wearer) -> Order:
    device = session.get(Device, w.device_id)
    assert device is not None
    order = session.get(Order, device.order_id)
    assert order is not None
    return order


@pytest.mark.parametrize("swept_after", [minutes(1), timedelta(days=3)],
                         ids=["the next sweep", "an end recorded days late"])
def test_an_ended_order_releases_its_device_as_of_its_end_and_nobody_is_chased_for_it(
    swept_after: timedelta, sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    w.send([w.fix(T0, HOME)], received_at=T0)
    w.sweep(T0 + minutes(35))
    [silent] = w.alerts()
    assert silent.ended_at is None
    end = T0 + minutes(40)
    _end_order(sessions, w, at=end)
    w.sweep(end + swept_after)
    [ended] = w.alerts()
    assert (ended.id, ended.ended_at) == (silent.id, end)
    with sessions() as session:
        device = session.get(Device, w.device_id)
        assert device is not None
        assert (device.state, device.order_id, device.subject_id) == ("paired", None, None)
        assert session.scalars(select(DeviceAssignment.unassigned_at).where(
            DeviceAssignment.device_id == w.device_id)).one() == end
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.record_id == str(w.device_id))
        ).all()
    assert "device.unassign" in actions
    w.sweep(end + swept_after + minutes(200))
    assert len(w.alerts()) == 1


def test_an_order_whose_end_was_moved_back_before_the_fitting_releases_the_device_as_fitted(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)  # fitted at T0
    _end_order(sessions, w, at=T0 - minutes(5))
    w.sweep(T0 + minutes(1))
    with sessions() as session:
        since, until = session.execute(
            select(DeviceAssignment.assigned_at, DeviceAssignment.unassigned_at).where(
                DeviceAssignment.device_id == w.device_id)).one()
    assert since == until == T0


def test_what_a_device_took_after_its_order_ended_and_sent_after_its_release_is_nobodys(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    _end_order(sessions, w, at=T0 + minutes(40))
    w.sweep(T0 + minutes(41))
    # Out of signal across the end; sent once the sweep had released the device.
    w.send([w.item("battery", T0 + minutes(39), level=50, charging=False),
            w.item("battery", T0 + minutes(40.5), level=49, charging=False)],
           received_at=T0 + minutes(50))
    with sessions() as session:
        stored = session.execute(
            select(DeviceEvent.at, DeviceEvent.subject_id).where(
                DeviceEvent.device_id == w.device_id).order_by(DeviceEvent.at)).all()
    assert [(ts, subject) for ts, subject in stored] == [
        (T0 + minutes(39), w.subject_id), (T0 + minutes(40.5), None)]
    assert w.alerts() == []


def test_the_sweep_never_raises_for_an_order_past_its_end(sessions: sessionmaker[Session]) -> None:
    w = wearer(sessions, start=T0)
    _end_order(sessions, w, at=T0 + minutes(10))
    with transaction(sessions) as session:
        assert assigned_health(session, now=T0 + minutes(5)) != []
        assert assigned_health(session, now=T0 + minutes(10)) == []


def test_nothing_taken_after_the_order_ends_raises_an_alert_before_the_sweep_releases_it(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    _end_order(sessions, w, at=T0 + minutes(10))
    w.send([w.item("strap", T0 + minutes(11), state="cut"),
            w.item("battery", T0 + minutes(11), level=3, charging=False)],
           received_at=T0 + minutes(11))
    assert w.alerts() == []
    assert [i for i in w.inbox() if i.kind == "message"] == []
    w.send([w.item("strap", T0 + minutes(9), state="cut")], received_at=T0 + minutes(12))
    [tamper] = w.alerts()
    assert (tamper.type, tamper.started_at) == (AlertType.strap_tamper, T0 + minutes(9))


def test_nothing_taken_before_the_order_started_raises_an_alert(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)  # the device is put on the order at T0
    with transaction(sessions) as session:
        _order(session, w).starts_at = T0 + minutes(1)
    w.send([w.item("strap", T0 + minutes(0.5), state="cut")], received_at=T0 + minutes(1))
    assert w.alerts() == []
    w.send([w.item("strap", T0 + minutes(2), state="cut")], received_at=T0 + minutes(2))
    [tamper] = w.alerts()
    assert (tamper.type, tamper.started_at) == (AlertType.strap_tamper, T0 + minutes(2))


@pytest.mark.parametrize(("language", "shown_in", "text"), [
    ("pl-PL", "pl", "Bateria: 14%. Naładuj teraz urządzenie."),
    ("ti", "en", "Battery at 14%. Please charge your device now."),  # not translated yet
])
def test_the_battery_warning_is_in_the_wearers_language_where_translated(
    language: str, shown_in: str, text: str, sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0, language=language)
    w.send([w.item("battery", T0, level=14, charging=False)], received_at=T0)
    [warning] = [i.payload for i in w.inbox() if i.kind == "message"]
    assert (warning["text"], warning["language"]) == (text, shown_in)


@pytest.mark.parametrize(("removed_after", "tamper"), [(10, False), (30, False), (31, True)])
def test_what_a_device_reports_within_30_minutes_before_a_recorded_removal_is_not_tamper(
    removed_after: int, tamper: bool, sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    cut = T0 + minutes(60)
    # The technician records the removal from the van; the tag, out of signal, sends later.
    w.take_off(removed_at=cut + minutes(removed_after),
               recorded_at=cut + minutes(removed_after + 2))
    w.send([w.item("strap", cut, state="cut"), w.item("case", cut, state="opened"),
            w.item("worn", cut, worn=False)], received_at=cut + minutes(40))
    w.sweep(cut + minutes(41))
    assert len(w.delivered) == 1  # the items reached the rules, as the subject's
    alerts = w.alerts()
    assert {a.type for a in alerts} == (TAMPER if tamper else set())
    assert all(a.ended_at is None and "at_recorded_removal" not in a.detail for a in alerts)


def test_tamper_raised_before_the_removal_was_recorded_ends_at_it_for_a_person_to_close(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    cut = T0 + minutes(60)
    w.send([w.item("strap", cut, state="cut")], received_at=cut)
    w.take_off(removed_at=cut + minutes(5), recorded_at=cut + minutes(8))
    w.sweep(cut + minutes(9))
    [alert] = w.alerts()
    assert alert.type == AlertType.strap_tamper and alert.ended_at == cut + minutes(5)
    assert alert.detail["at_recorded_removal"] == (cut + minutes(5)).isoformat()
    assert alert.status == "open"  # ended, not resolved: a person decides


def test_a_device_handed_back_is_no_longer_chased_for_its_silence(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    w.send([w.fix(T0, HOME)], received_at=T0)
    w.sweep(T0 + minutes(31))
    [silent] = w.alerts()
    assert silent.type == AlertType.device_silent and silent.ended_at is None
    w.take_off(recorded_at=T0 + minutes(40))
    w.sweep(T0 + minutes(41))
    [silent] = w.alerts()
    assert silent.ended_at == T0 + minutes(40)
