"""The in-process bus keeps what a consumer may still need, and no more."""

from __future__ import annotations

import asyncio

import pytest

from openem.bus import memory
from openem.bus.memory import MemoryBus

SUBJECT = "openem.telemetry.fix"


async def _publish(bus: MemoryBus, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        await bus.publish(SUBJECT, f"m{n}".encode())


async def _take_and_ack(bus: MemoryBus, durable: str, count: int) -> list[bytes]:
    subscription = await bus.subscribe("openem.telemetry.*", durable=durable, ack_wait=30.0)
    messages = await subscription.fetch(count, timeout=0.1)
    for message in messages:
        await message.ack()
    return [message.data for message in messages]


@pytest.fixture(autouse=True)
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "TRIM_EVERY", 10)
    monkeypatch.setattr(memory, "UNCONSUMED_LIMIT", 25)


def test_messages_every_consumer_has_acked_are_dropped() -> None:
    async def scenario() -> None:
        bus = MemoryBus()
        await bus.subscribe("openem.telemetry.*", durable="rules")
        await bus.subscribe("openem.telemetry.*", durable="live")
        await _publish(bus, 30)
        assert len(await _take_and_ack(bus, "rules", 30)) == 30
        assert len(await _take_and_ack(bus, "live", 12)) == 12
        await _publish(bus, 10, start=30)  # the tenth publish trims
        assert bus.first == 12  # "live" still needs message 12 onwards
        assert await _take_and_ack(bus, "live", 3) == [b"m12", b"m13", b"m14"]
        assert await _take_and_ack(bus, "rules", 100) == [f"m{n}".encode() for n in range(30, 40)]

    asyncio.run(scenario())


def test_an_unacknowledged_message_is_kept_and_given_again() -> None:
    async def scenario() -> None:
        bus = MemoryBus()
        subscription = await bus.subscribe("openem.telemetry.*", durable="rules", ack_wait=0.05)
        await _publish(bus, 5)
        first, *rest = await subscription.fetch(5, timeout=0.1)
        for message in rest:
            await message.ack()
        await _publish(bus, 10, start=5)
        assert bus.first == 0  # m0 is still out, unacknowledged
        await asyncio.sleep(0.06)
        again = await subscription.fetch(1, timeout=0.1)
        assert [(m.data, m.deliveries) for m in again] == [(first.data, 2)]
        await again[0].ack()
        bus.trim()
        assert bus.first == 5  # m1..m4 were acked; m5 onwards were never fetched

    asyncio.run(scenario())


def test_acknowledged_messages_leave_no_delivery_counts_behind() -> None:
    async def scenario() -> None:
        bus = MemoryBus()
        await _publish(bus, 20)
        assert len(await _take_and_ack(bus, "rules", 20)) == 20
        assert bus.consumers["rules"].deliveries == {}
        assert bus.consumers["rules"].pending == {}

    asyncio.run(scenario())


def test_with_no_consumer_only_the_latest_messages_are_kept() -> None:
    async def scenario() -> None:
        bus = MemoryBus()
        await _publish(bus, 60)
        assert len(bus.log) <= 25 + 10  # trimmed to the limit every tenth publish
        assert bus.log[-1].data == b"m59"
        late = await _take_and_ack(bus, "late", 100)
        assert late == [f"m{n}".encode() for n in range(bus.first, 60)]
        assert late[0] == f"m{60 - 25}".encode()

    asyncio.run(scenario())


def test_purge_blanks_messages_after_a_trim() -> None:
    async def scenario() -> None:
        bus = MemoryBus()
        await bus.subscribe("openem.telemetry.*", durable="rules")
        await _publish(bus, 20)
        assert len(await _take_and_ack(bus, "rules", 15)) == 15
        bus.trim()
        assert bus.first == 15
        removed = await bus.purge(SUBJECT, match=lambda data: data in (b"m16", b"m18"))
        assert removed == 2
        assert await _take_and_ack(bus, "rules", 10) == [b"m15", b"m17", b"m19"]

    asyncio.run(scenario())
