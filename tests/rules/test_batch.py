"""A fetched batch of telemetry is taken in bulk, with the same outcome as one by one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from openem.alerts.types import AlertType
from tests.support.rules import HOME, Wearer, minutes, north_of, wearer

T0 = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
AWAY = north_of(HOME, 800)
VICTIM_HOME = {"type": "Point", "coordinates": [HOME[1], HOME[0]]}


def _exclusion(w: Wearer) -> None:
    w.zone(now=T0, name="victim's street", kind="exclusion", geometry=VICTIM_HOME, radius_m=100)


@contextmanager
def _statements(sessions: sessionmaker[Session]) -> Iterator[list[str]]:
    engine = sessions.kw["bind"]
    seen: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_batch_with_repeats_and_several_devices_makes_one_alert_each(
    sessions: sessionmaker[Session],
) -> None:
    a, b = wearer(sessions, start=T0), wearer(sessions, start=T0)
    for w in (a, b):
        _exclusion(w)
    messages = []
    for w in (a, b):
        messages += w.ingest([w.fix(T0 + minutes(m), HOME) for m in (1, 2)],
                             received_at=T0 + minutes(2))
    for w in (a, b):
        messages += w.ingest([w.fix(T0 + minutes(3), HOME)], received_at=T0 + minutes(3))
    a.worker.handle_batch(messages + messages[:1] + messages[2:3])
    for w in (a, b):
        [alert] = w.alerts()
        assert alert.type == AlertType.exclusion_zone_entry
        assert alert.started_at == T0 + minutes(1)
        assert len(w.evidence(alert)) == 3
    a.worker.handle_batch(messages)
    assert [len(w.alerts()) for w in (a, b)] == [1, 1], "a batch delivered again changes nothing"


def test_one_devices_messages_in_one_batch_are_taken_in_fix_time_order(
    sessions: sessionmaker[Session],
) -> None:
    w = wearer(sessions, start=T0)
    _exclusion(w)
    messages = w.ingest([w.fix(T0 + minutes(m), HOME) for m in (1, 2, 3)],
                        received_at=T0 + minutes(3))
    messages += w.ingest([w.fix(T0 + minutes(m), AWAY) for m in (4, 5, 6)],
                         received_at=T0 + minutes(6))
    w.worker.handle_batch(messages)
    [alert] = w.alerts()
    assert (alert.started_at, alert.ended_at) == (T0 + minutes(1), T0 + minutes(4))


def test_a_batch_costs_the_same_statements_for_5_or_40_devices(
    sessions: sessionmaker[Session],
) -> None:
    wearers = [wearer(sessions, start=T0) for _ in range(40)]
    for w in wearers:
        _exclusion(w)
    rounds = [
        [msg for w in wearers
         for msg in w.ingest([w.fix(T0 + minutes(m), AWAY)], received_at=T0 + minutes(m))]
        for m in (1, 2, 3)
    ]
    worker = wearers[0].worker
    worker.handle_batch(rounds[0])  # the index is built, the state rows are created
    with _statements(sessions) as few:
        worker.handle_batch(rounds[1][:5])
    with _statements(sessions) as many:
        worker.handle_batch(rounds[2])
    assert len(many) == len(few) <= 8, many
