"""The simulator pairs and signs like real devices and only talks HTTP to the server."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openem.db.engine import make_engine
from openem.db.session import make_session_factory
from openem.locations.models import Position
from openem.sim.agent import Agent
from openem.sim.runner import retry_after_s, simulate, upload
from openem.sim.world import distance_m, index_of, life_of
from tests.support.devices import pair
from tests.support.server import SeededDemo, free_port, running, wait_for_health
from tests.support.writer import queued_upload, until, writes_blocked


def test_every_wearer_lives_in_the_same_city_deterministically() -> None:
    first, again = life_of("DEMO-SMA-00001", 1), life_of("DEMO-SMA-00001", 1)
    assert first == again
    assert first.scenario.enters_exclusion
    assert distance_m(first.home, first.work) < 20_000


def test_an_agent_records_fixes_and_a_cut_strap() -> None:
    start = datetime.now(UTC)
    agent = Agent(
        serial="DEMO-FIT-00003",
        device_id="d",
        kind="fitted_tag",
        life=life_of("DEMO-FIT-00003", 3),
        started=start,
        rng=random.Random(3),
    )
    for second in range(0, 60, 5):
        agent.tick(start + timedelta(seconds=second), 5)
    batch = agent.take_batch()
    kinds = [item["type"] for item in batch]
    assert kinds.count("position") == 12
    assert "strap" in kinds
    seqs = [item["seq"] for item in batch]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert agent.pending == []


def test_simulated_devices_pair_and_upload_over_http(
    seeded_demo: SeededDemo, tmp_path: Path
) -> None:
    database_url = seeded_demo.copy_to(tmp_path)
    env = {"OPENEM_DATABASE_URL": database_url}
    token = next(
        line.split()[-1]
        for line in seeded_demo.stdout.splitlines()
        if line.strip().startswith("admin")
    )
    port = free_port()
    with running(["serve"], env=env | {"OPENEM_PORT": str(port)}, cwd=tmp_path):
        base = f"http://127.0.0.1:{port}"
        wait_for_health(base, timeout=30)
        count = asyncio.run(
            simulate(
                server=base,
                token=token,
                devices=3,
                seconds=4,
                fix_interval_s=0.5,
                upload_interval_s=1.0,
            )
        )
    assert count == 3
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            devices = session.scalar(select(func.count(func.distinct(Position.device_id))))
            subjects = session.scalar(select(func.count(func.distinct(Position.subject_id))))
    finally:
        engine.dispose()
    assert devices == 3 and subjects == 3


def test_seeding_and_simulator_number_a_wearer_by_its_serial() -> None:
    assert index_of("DEMO-SMA-00004", fallback=0) == 4
    assert index_of("OTHER-DEVICE", fallback=7) == 7


def _response(**headers: str) -> httpx.Response:
    return httpx.Response(503, headers=headers)


def test_retry_after_is_read_in_seconds_or_as_a_date() -> None:
    in_two_minutes = format_datetime(datetime.now(UTC) + timedelta(minutes=2), usegmt=True)
    assert retry_after_s(_response(**{"Retry-After": "45"}), default=30) == 45
    assert 100 < retry_after_s(_response(**{"Retry-After": in_two_minutes}), default=30) <= 120
    assert retry_after_s(_response(**{"Retry-After": "Mon, 01 Jan 2001 00:00:00 GMT"}),
                         default=30) == 0
    assert retry_after_s(_response(**{"Retry-After": "soon"}), default=30) == 30
    assert retry_after_s(_response(), default=30) == 30


def test_a_simulated_device_refused_as_overloaded_keeps_its_items_and_waits_retry_after(
    client: TestClient, staff_tokens: dict[str, str]
) -> None:
    device = pair(client, staff_tokens["admin"])
    agent = Agent(serial=device.serial, device_id=device.device_id, kind="smartwatch",
                  life=life_of(device.serial, 1), started=datetime.now(UTC),
                  rng=random.Random(1))
    agent.tick(datetime.now(UTC), 5)
    held = list(agent.pending)
    state = client.app.state  # type: ignore[attr-defined]
    late = queued_upload(device)
    late.queued_at -= 10  # waited twice the default limit

    async def send() -> float:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
            return await upload(http, agent, device.signer)

    with writes_blocked(state.sessions):
        state.telemetry_writer._queue.put(late)
        state.telemetry_writer._queue.put(queued_upload(device))
        until(lambda: state.telemetry_writer._busy_since is not None)
        refused_wait = asyncio.run(send())
        kept = list(agent.pending)
    until(lambda: late.outcome.done())
    stored_wait = asyncio.run(send())

    assert 30 <= refused_wait <= 60 and kept == held
    assert stored_wait == agent.upload_interval_s and agent.pending == []
