"""Check-in outcomes become alerts for a person to review; the decision id is the key."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from openem.alerts.types import AlertType
from tests.support.rules import minutes, wearer

T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def test_missed_and_failed_check_ins_raise_compliance_alerts(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    missed = w.checkin("missed", T0)
    failed = w.checkin("failed", T0 + minutes(120))
    w.checkin("technical", T0 + minutes(240))
    w.checkin("passed", T0 + minutes(360))
    alerts = {a.type: a for a in w.alerts()}
    assert set(alerts) == {AlertType.checkin_missed, AlertType.checkin_failed,
                           AlertType.checkin_technical}
    assert alerts[AlertType.checkin_missed].alert_class == "compliance"
    assert alerts[AlertType.checkin_technical].alert_class == "technical"
    assert [e.ref for e in w.evidence(alerts[AlertType.checkin_missed])] == [missed]
    assert [e.ref for e in w.evidence(alerts[AlertType.checkin_failed])] == [failed]
    assert all(a.outcome is None for a in alerts.values())


def test_the_same_outcome_delivered_twice_makes_one_alert(sessions: sessionmaker[Session]) -> None:
    w = wearer(sessions, start=T0)
    w.checkin("failed", T0, decision_id="d-1")
    w.checkin("failed", T0, decision_id="d-1")
    assert len(w.alerts()) == 1


def test_repeated_failures_raise_one_more_alert_until_a_pass(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    w.checkin("failed", T0)
    w.checkin("missed", T0 + minutes(180))
    assert AlertType.checkin_repeated_failures not in {a.type for a in w.alerts()}
    w.checkin("failed", T0 + minutes(360))
    w.checkin("failed", T0 + minutes(480))
    repeated = [a for a in w.alerts() if a.type == AlertType.checkin_repeated_failures]
    assert len(repeated) == 1
    assert len(w.evidence(repeated[0])) == 4
    w.checkin("passed", T0 + minutes(600))
    repeated = [a for a in w.alerts() if a.type == AlertType.checkin_repeated_failures]
    assert repeated[0].ended_at == T0 + minutes(600)
