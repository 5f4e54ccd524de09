"""Zone rules: entry, exit, hysteresis, accuracy, flags, curfews, late fixes, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from openem.alerts.types import AlertType
from tests.support.rules import HOME, minutes, north_of, wearer

T0 = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
AWAY = north_of(HOME, 800)
VICTIM_HOME = {"type": "Point", "coordinates": [HOME[1], HOME[0]]}


def exclusion(**extra: object) -> dict[str, object]:
    return {"name": "victim's street", "kind": "exclusion", "geometry": VICTIM_HOME,
            "radius_m": 100} | extra


def test_exclusion_entry_opens_after_three_fixes_and_exit_closes_it(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    w.zone(now=T0, **exclusion())
    w.send([w.fix(T0 + minutes(1), AWAY)], received_at=T0 + minutes(1))
    w.send([w.fix(T0 + minutes(m), HOME) for m in (2, 3)], received_at=T0 + minutes(3))
    assert w.alerts() == []
    w.send([w.fix(T0 + minutes(4), HOME)], received_at=T0 + minutes(4))
    [alert] = w.alerts()
    assert alert.type == AlertType.exclusion_zone_entry
    assert alert.alert_class == "compliance"
    assert alert.started_at == T0 + minutes(2)
    assert alert.ended_at is None and not alert.late
    assert len(w.evidence(alert)) == 3
    w.send([w.fix(T0 + minutes(m), AWAY) for m in (5, 6, 7)], received_at=T0 + minutes(7))
    [alert] = w.alerts()
    assert alert.ended_at == T0 + minutes(5)
    assert alert.outcome is None


def test_noisy_fixes_near_a_boundary_make_no_alert_storm(sessions: sessionmaker[Session]) -> None:
    w = wearer(sessions, start=T0)
    w.zone(now=T0, **exclusion())
    edge = north_of(HOME, 100)
    inside, outside = north_of(HOME, 60), north_of(HOME, 160)
    pattern = [inside, edge, outside, inside, edge, inside, outside, edge, inside, outside]
    w.send([w.fix(T0 + minutes(i + 1), p, accuracy_m=25) for i, p in enumerate(pattern)],
           received_at=T0 + minutes(11))
    assert w.alerts() == []
    steady = [inside, edge, inside, edge, inside, outside, outside, edge, outside]
    w.send([w.fix(T0 + minutes(20 + i), p, accuracy_m=25) for i, p in enumerate(steady)],
           received_at=T0 + minutes(30))
    [alert] = w.alerts()
    assert alert.started_at == T0 + minutes(20)
    assert alert.ended_at == T0 + minutes(25)


def test_poor_accuracy_fix_never_opens_an_alert(sessions: sessionmaker[Session]) -> None:
    w = wearer(sessions, start=T0)
    w.zone(now=T0, **exclusion())
    w.send([w.fix(T0 + minutes(i), HOME, accuracy_m=150) for i in range(1, 11)],
           received_at=T0 + minutes(11))
    assert w.alerts() == []


def test_flagged_fix_is_never_evidence(sessions: sessionmaker[Session]) -> None:
    w = wearer(sessions, start=T0)
    w.zone(now=T0, **exclusion(radius_m=5_000))
    flagged = [w.fix(T0 + minutes(i), HOME, accuracy_m=800) for i in range(1, 6)]
    w.send(flagged, received_at=T0 + minutes(6))
    assert w.alerts() == []
    good = [w.fix(T0 + minutes(10 + i), HOME) for i in range(3)]
    w.send([good[0], good[1], w.fix(T0 + minutes(11.5), HOME, accuracy_m=900), good[2]],
           received_at=T0 + minutes(13))
    [alert] = w.alerts()
    assert {e.seq for e in w.evidence(alert)} == {g["seq"] for g in good}


def test_curfew_absence_across_midnight(sessions: sessionmaker[Session]) -> None:
    start = datetime(2026, 6, 10, 20, 0, tzinfo=UTC)
    w = wearer(sessions, start=start)
    w.zone(now=start, name="home", kind="inclusion", geometry=VICTIM_HOME, radius_m=150,
           schedule={"windows": [{"start": "19:00", "end": "07:00", "overnight": True}]})
    night = datetime(2026, 6, 10, 22, 50, tzinfo=UTC)
    w.send([w.fix(night + minutes(10 * i), AWAY) for i in range(4)],
           received_at=night + minutes(31))
    [alert] = w.alerts()
    assert alert.type == AlertType.curfew_absence
    assert alert.started_at == night
    w.send([w.fix(night + minutes(40 + i), HOME) for i in range(3)],
           received_at=night + minutes(43))
    assert w.alerts()[0].ended_at == night + minutes(40)
    morning = datetime(2026, 6, 11, 6, 10, tzinfo=UTC)
    w.send([w.fix(morning + minutes(10 * i), AWAY) for i in range(4)],
           received_at=morning + minutes(31))
    assert len(w.alerts()) == 1


def test_curfew_absence_across_dst_change(sessions: sessionmaker[Session]) -> None:
    start = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    w = wearer(sessions, start=start)
    w.zone(now=start, name="home", kind="inclusion", geometry=VICTIM_HOME, radius_m=150,
           schedule={"timezone": "Europe/London",
                     "windows": [{"start": "19:00", "end": "07:00", "overnight": True}]})
    after_change = datetime(2026, 3, 29, 6, 5, tzinfo=UTC)
    w.send([w.fix(after_change + minutes(5 * i), AWAY) for i in range(5)],
           received_at=after_change + minutes(25))
    assert w.alerts() == [], "06:05 UTC is 07:05 BST: the curfew is over"
    before_end = datetime(2026, 3, 29, 5, 20, tzinfo=UTC)
    w2 = wearer(sessions, start=start)
    w2.zone(now=start, name="home", kind="inclusion", geometry=VICTIM_HOME, radius_m=150,
            schedule={"windows": [{"start": "19:00", "end": "07:00", "overnight": True}]})
    w2.send([w2.fix(before_end + minutes(5 * i), AWAY) for i in range(4)],
            received_at=before_end + minutes(20))
    [alert] = w2.alerts()
    assert alert.started_at == before_end


def test_buffered_fixes_uploaded_hours_later_raise_the_alert_marked_late(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    w.zone(now=T0, **exclusion())
    hours_later = T0 + minutes(240)
    w.send([w.fix(T0 + minutes(10 + i), HOME) for i in range(4)], received_at=hours_later)
    [alert] = w.alerts()
    assert alert.late and alert.started_at == T0 + minutes(10)


def test_out_of_order_fixes_replay_and_raise_what_they_should_have(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    w.zone(now=T0, **exclusion())
    w.send([w.fix(T0 + minutes(60 + i), AWAY) for i in range(3)], received_at=T0 + minutes(63))
    older = [w.fix(T0 + minutes(20 + i), HOME) for i in range(3)]
    w.send(older, received_at=T0 + minutes(64))
    [alert] = w.alerts()
    assert alert.late
    assert alert.started_at == T0 + minutes(20)
    assert alert.ended_at == T0 + minutes(60)
    assert {e.seq for e in w.evidence(alert)} >= {f["seq"] for f in older}


def test_the_same_batch_delivered_twice_makes_one_alert(sessions: sessionmaker[Session]) -> None:
    w = wearer(sessions, start=T0)
    w.zone(now=T0, **exclusion())
    w.send([w.fix(T0 + minutes(i), HOME) for i in range(1, 4)], received_at=T0 + minutes(4))
    w.redeliver_last()
    w.redeliver_last()
    assert len(w.alerts()) == 1


def test_device_reports_every_15_s_while_violating_and_normally_after(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    w.zone(now=T0, **exclusion())
    w.send([w.fix(T0 + minutes(i), HOME) for i in range(1, 4)], received_at=T0 + minutes(4))
    configs = [i.payload for i in w.inbox() if i.kind == "config"]
    assert configs == [{"fix_interval_s": 15, "upload_interval_s": 15,
                        "reason": "zone_violation"}]
    w.send([w.fix(T0 + minutes(i), AWAY) for i in range(5, 8)], received_at=T0 + minutes(8))
    configs = [i.payload for i in w.inbox() if i.kind == "config"]
    assert configs[-1]["reason"] == "normal" and configs[-1]["fix_interval_s"] == 60


def test_a_late_fix_that_breaks_a_streak_supersedes_the_alert_it_contradicts(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    w.zone(now=T0, **exclusion())
    w.send([w.fix(T0 + minutes(10 + i), HOME) for i in range(5)], received_at=T0 + minutes(15))
    [first] = w.alerts()
    w.send([w.fix(T0 + minutes(10.5), AWAY)], received_at=T0 + minutes(16))
    first, second = w.alerts()
    assert first.started_at == T0 + minutes(10) and first.ended_at == first.started_at
    assert first.detail["superseded_by_late_fixes"] is True
    assert second.started_at == T0 + minutes(11) and second.late and second.ended_at is None
