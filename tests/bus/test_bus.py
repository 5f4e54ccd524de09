"""Both buses deliver at least once: unacked messages come back, acked ones do not."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest
from nats.errors import NoServersError

from openem.bus.base import Bus, subject_matches
from openem.bus.memory import MemoryBus
from openem.bus.nats import NatsBus

NATS_URL = os.environ.get("OPENEM_TEST_NATS_URL", "nats://127.0.0.1:4222")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def event_loop_runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


async def _nats_bus() -> NatsBus:
    name = f"TEST_{uuid.uuid4().hex[:12].upper()}"
    return await NatsBus.connect(NATS_URL, stream=name, subjects=f"{name.lower()}.>")


@pytest.fixture(params=["memory", pytest.param("nats", marks=pytest.mark.nats)])
def bus(request: pytest.FixtureRequest, event_loop_runner: asyncio.Runner) -> Iterator[Bus]:
    if request.param == "memory":
        yield event_loop_runner.run(_memory())
        return
    try:
        nats_bus = event_loop_runner.run(_nats_bus())
    except Exception as error:
        if IN_CI:
            pytest.fail(f"NATS JetStream is required in CI and could not be reached: {error}")
        pytest.skip("NATS not reachable on 127.0.0.1:4222; its half of the bus tests is skipped")
    yield nats_bus
    event_loop_runner.run(nats_bus.delete_stream())
    event_loop_runner.run(nats_bus.close())


async def _memory() -> MemoryBus:
    return MemoryBus()


def _subject(bus: Bus, leaf: str) -> str:
    prefix = bus.stream.lower() if isinstance(bus, NatsBus) else "openem"
    return f"{prefix}.telemetry.{leaf}"


def test_acked_messages_are_delivered_once(bus: Bus, event_loop_runner: asyncio.Runner) -> None:
    async def scenario() -> list[bytes]:
        subscription = await bus.subscribe(_subject(bus, "*"), durable="rules", ack_wait=1.0)
        for n in range(3):
            await bus.publish(_subject(bus, "fix"), f"m{n}".encode())
        received = []
        for message in await subscription.fetch(10, timeout=2):
            received.append(message.data)
            await message.ack()
        received.extend(m.data for m in await subscription.fetch(10, timeout=1.5))
        return received

    assert event_loop_runner.run(scenario()) == [b"m0", b"m1", b"m2"]


def test_an_unacked_message_is_delivered_again_after_ack_wait(
    bus: Bus, event_loop_runner: asyncio.Runner
) -> None:
    async def scenario() -> tuple[bytes, int]:
        subscription = await bus.subscribe(_subject(bus, ">"), durable="live", ack_wait=1.0)
        await bus.publish(_subject(bus, "fix"), b"once")
        first = await subscription.fetch(1, timeout=2)
        assert [m.data for m in first] == [b"once"]
        await asyncio.sleep(1.2)
        again = await subscription.fetch(1, timeout=3)
        assert [m.data for m in again] == [b"once"]
        await again[0].ack()
        return again[0].data, again[0].deliveries

    data, deliveries = event_loop_runner.run(scenario())
    assert (data, deliveries) == (b"once", 2)


def test_a_repeated_message_id_is_stored_once(bus: Bus, event_loop_runner: asyncio.Runner) -> None:
    async def scenario() -> list[bytes]:
        subscription = await bus.subscribe(_subject(bus, "*"), durable="dedup", ack_wait=5.0)
        await bus.publish(_subject(bus, "fix"), b"a", msg_id="device-1:seq-7")
        await bus.publish(_subject(bus, "fix"), b"a", msg_id="device-1:seq-7")
        await bus.publish(_subject(bus, "fix"), b"b", msg_id="device-1:seq-8")
        messages = await subscription.fetch(10, timeout=2)
        for message in messages:
            await message.ack()
        return [m.data for m in messages]

    assert event_loop_runner.run(scenario()) == [b"a", b"b"]


def test_a_durable_consumer_resumes_where_it_left_off(
    bus: Bus, event_loop_runner: asyncio.Runner
) -> None:
    async def scenario() -> list[bytes]:
        first = await bus.subscribe(_subject(bus, "*"), durable="resume", ack_wait=5.0)
        await bus.publish(_subject(bus, "fix"), b"1")
        for message in await first.fetch(1, timeout=2):
            await message.ack()
        await bus.publish(_subject(bus, "fix"), b"2")
        second = await bus.subscribe(_subject(bus, "*"), durable="resume", ack_wait=5.0)
        messages = await second.fetch(10, timeout=2)
        return [m.data for m in messages]

    assert event_loop_runner.run(scenario()) == [b"2"]


def test_an_empty_fetch_returns_nothing(bus: Bus, event_loop_runner: asyncio.Runner) -> None:
    async def scenario() -> list[object]:
        subscription = await bus.subscribe(_subject(bus, "*"), durable="idle", ack_wait=5.0)
        return list(await subscription.fetch(5, timeout=0.3))

    assert event_loop_runner.run(scenario()) == []


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("openem.telemetry.*", "openem.telemetry.fix", True),
        ("openem.telemetry.*", "openem.telemetry.fix.late", False),
        ("openem.>", "openem.telemetry.fix", True),
        ("openem.>", "openem", False),
        ("openem.alerts", "openem.alerts", True),
    ],
)
def test_subject_wildcards_follow_nats(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches


def test_purge_removes_only_the_matching_messages_on_the_subject(
    bus: Bus, event_loop_runner: asyncio.Runner
) -> None:
    async def scenario() -> tuple[int, list[bytes]]:
        device, other = _subject(bus, "dev1"), _subject(bus, "dev2")
        await bus.publish(device, b'{"subject_id": "gone"}')
        await bus.publish(device, b'{"subject_id": "kept"}')
        await bus.publish(other, b'{"subject_id": "gone"}')
        removed = await bus.purge(device, match=lambda data: b'"gone"' in data)
        subscription = await bus.subscribe(_subject(bus, "*"), durable="after", ack_wait=5.0)
        seen = [m.data for m in await subscription.fetch(10, timeout=0.5)]
        await subscription.close()
        return removed, seen

    removed, seen = event_loop_runner.run(scenario())
    assert removed == 1
    assert sorted(seen) == [b'{"subject_id": "gone"}', b'{"subject_id": "kept"}']


@pytest.mark.nats
def test_the_nats_stream_drops_a_message_older_than_its_age_limit(
    event_loop_runner: asyncio.Runner,
) -> None:
    name = f"TEST_{uuid.uuid4().hex[:12].upper()}"

    async def scenario() -> tuple[float | None, float | None, list[bytes]]:
        created = await NatsBus.connect(NATS_URL, stream=name, subjects=f"{name.lower()}.>",
                                        max_age_s=3600)
        first = (await created._js.stream_info(name)).config.max_age
        await created.close()
        bus = await NatsBus.connect(NATS_URL, stream=name, subjects=f"{name.lower()}.>",
                                    max_age_s=1)  # an existing stream takes the new limit
        try:
            limit = (await bus._js.stream_info(name)).config.max_age
            await bus.publish(f"{name.lower()}.telemetry.dev1", b"old")
            await asyncio.sleep(2.5)
            await bus.publish(f"{name.lower()}.telemetry.dev1", b"new")
            subscription = await bus.subscribe(f"{name.lower()}.>", durable="late", ack_wait=5)
            seen = [message.data for message in await subscription.fetch(10, timeout=0.5)]
            await subscription.close()
            return first, limit, seen
        finally:
            await bus.delete_stream()
            await bus.close()

    try:
        first, limit, seen = event_loop_runner.run(scenario())
    except (OSError, NoServersError) as error:
        if IN_CI:
            pytest.fail(f"NATS JetStream is required in CI and could not be reached: {error}")
        pytest.skip("NATS not reachable on 127.0.0.1:4222")
    assert (first, limit) == (3600, 1)
    assert seen == [b"new"]
