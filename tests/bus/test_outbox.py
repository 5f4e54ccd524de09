"""The outbox relay publishes every queued event, and deletes what it published in
batches rather than with a write transaction per round."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import REGISTRY
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from openem.bus.memory import MemoryBus
from openem.bus.outbox import OUTBOX, OutboxMessage, _Relay, enqueue, relay_until
from openem.db.base import utcnow
from openem.db.session import make_session_factory


class RecordingBus(MemoryBus):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> None:
        self.sent.append(msg_id or "")
        await super().publish(subject, data, msg_id=msg_id)


def _queue(sessions: sessionmaker[Session], *names: str) -> None:
    with sessions() as session, session.begin():
        for name in names:
            enqueue(session, subject="openem.test", msg_id=name, event={"name": name})


def _left(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def test_under_load_published_rows_are_deleted_once_an_interval(
    sessions: sessionmaker[Session],
) -> None:
    bus = RecordingBus()
    relay = _Relay(sessions, bus, forget_every=3600)

    async def rounds() -> None:
        for n in range(3):
            _queue(sessions, f"m{n}a", f"m{n}b")
            assert await relay.publish() == 2

    published = REGISTRY.get_sample_value("openem_outbox_published_total") or 0.0
    asyncio.run(rounds())
    assert bus.sent == ["m0a", "m0b", "m1a", "m1b", "m2a", "m2b"]  # each once, in order
    assert REGISTRY.get_sample_value("openem_outbox_published_total") == published + 6
    assert _left(sessions) == 6  # not deleted round by round
    assert asyncio.run(relay.publish()) == 0  # idle: delete what was published
    assert _left(sessions) == 0
    assert len(bus.sent) == 6


def test_a_row_committed_late_below_the_last_published_id_is_still_published(
    sessions: sessionmaker[Session],
) -> None:
    bus = RecordingBus()
    relay = _Relay(sessions, bus, forget_every=0.0)
    with sessions() as session, session.begin():
        session.execute(insert(OUTBOX).values(
            id=10, subject="openem.test", msg_id="ten", payload=b"{}", created_at=utcnow()
        ))
    assert asyncio.run(relay.publish()) == 1
    with sessions() as session, session.begin():  # as a slower PostgreSQL transaction would
        session.execute(insert(OUTBOX).values(
            id=5, subject="openem.test", msg_id="five", payload=b"{}", created_at=utcnow()
        ))
    asyncio.run(relay.publish())
    assert bus.sent == ["ten", "five"]
    assert _left(sessions) == 0


def test_relay_until_publishes_everything_once_and_leaves_nothing_behind(
    sessions: sessionmaker[Session],
) -> None:
    bus = RecordingBus()
    _queue(sessions, "a", "b", "c")

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            relay_until(stop, sessions, bus, idle_sleep=0.01, forget_every=3600)
        )
        deadline = time.monotonic() + 5
        while len(bus.sent) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(run())
    assert bus.sent == ["a", "b", "c"]
    assert _left(sessions) == 0


def test_of_processes_sharing_a_database_one_relays_and_another_takes_over_when_it_stops(
    sessions: sessionmaker[Session], other_engine: Engine
) -> None:
    other_sessions = make_session_factory(other_engine)  # another API process's
    first, second = RecordingBus(), RecordingBus()

    async def relaying(sessions: sessionmaker[Session], bus: RecordingBus, stop: asyncio.Event
                       ) -> asyncio.Task[None]:
        return asyncio.create_task(
            relay_until(stop, sessions, bus, idle_sleep=0.01, takeover_s=0.01)
        )

    async def until_published(*names: str) -> None:
        deadline = time.monotonic() + 5
        while not set(names) <= set(first.sent + second.sent):
            assert time.monotonic() < deadline, "not published"
            await asyncio.sleep(0.01)

    async def run() -> None:
        stop_first, stop_second = asyncio.Event(), asyncio.Event()
        relays = [await relaying(sessions, first, stop_first),
                  await relaying(other_sessions, second, stop_second)]
        _queue(sessions, "a", "b", "c")
        await until_published("a", "b", "c")
        await asyncio.sleep(0.1)  # time for the other to publish them again, if it would
        holder, holder_stops, other = (
            (first, stop_first, second) if first.sent else (second, stop_second, first)
        )
        assert holder.sent == ["a", "b", "c"] and other.sent == []
        holder_stops.set()  # the process holding the lock stops...
        _queue(sessions, "d")
        await until_published("d")  # ...and the other takes over
        assert other.sent == ["d"]
        stop_first.set()
        stop_second.set()
        await asyncio.gather(*relays)

    asyncio.run(run())
    assert _left(sessions) == 0
