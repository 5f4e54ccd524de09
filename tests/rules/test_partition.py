"""Rules consumers partitioned by subject: every message is taken by exactly one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from openem.alerts.sink import AlertsSink
from openem.bus.memory import MemoryBus
from openem.errors import Invalid
from openem.rules.config import RulesConfig
from openem.rules.partition import Partition
from openem.rules.tasks import RulesWorker
from tests.support.rules import HOME, Wearer, minutes, wearer

T0 = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
VICTIM_HOME = {"type": "Point", "coordinates": [HOME[1], HOME[0]]}


def _worker(sessions: sessionmaker[Session], w: Wearer, partition: Partition) -> RulesWorker:
    return RulesWorker(sessions=sessions, bus=MemoryBus(), config=RulesConfig(),
                       sink=AlertsSink(), clock=w.clock, partition=partition)


def test_each_subject_belongs_to_exactly_one_partition() -> None:
    shares = [Partition(i, 3) for i in range(3)]
    for _ in range(200):
        subject = uuid.uuid4()
        assert sum(p.owns(subject) for p in shares) == 1
    assert [p.durable("rules-telemetry") for p in shares][1] == "rules-telemetry-p1of3"
    assert Partition().durable("rules-telemetry") == "rules-telemetry"
    assert [p.escalates for p in shares] == [True, False, False]
    with pytest.raises(Invalid):
        Partition(3, 3)


def test_two_partitions_given_every_message_make_each_alert_once(
    sessions: sessionmaker[Session],
) -> None:
    halves = (Partition(0, 2), Partition(1, 2))
    wearers = [wearer(sessions, start=T0) for _ in range(4)]
    while {halves[0].owns(w.subject_id) for w in wearers} != {True, False}:  # both get work
        wearers.append(wearer(sessions, start=T0))
    messages = []
    for w in wearers:
        w.zone(now=T0, name="victim", kind="exclusion", geometry=VICTIM_HOME, radius_m=100)
        messages += w.ingest([w.fix(T0 + minutes(m), HOME) for m in (1, 2, 3)],
                             received_at=T0 + minutes(3))
    first, second = (_worker(sessions, wearers[0], p) for p in halves)
    first.handle_batch(messages)
    assert [len(w.alerts()) for w in wearers] == [int(halves[0].owns(w.subject_id))
                                                  for w in wearers]
    second.handle_batch(messages)
    first.handle_batch(messages)
    assert [len(w.alerts()) for w in wearers] == [1] * len(wearers)
