"""kill -9 while a device uploads: every acknowledged item is stored and reaches the consumers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.principal import SYSTEM
from openem.bus.nats import NatsBus
from openem.db.base import utcnow
from openem.devices import pairing
from openem.devices import service as devices_service
from openem.devices.schemas import DeviceCreate
from openem.locations.models import Position
from openem.sim.signer import DeviceSigner, generate_device_key_pair
from tests.conftest import IN_CI
from tests.support.devices import TestDevice
from tests.support.server import free_port, running, wait_for_health

NATS_URL = os.environ.get("OPENEM_TEST_NATS_URL", "nats://127.0.0.1:4222")
pytestmark = pytest.mark.slow


def _paired_device(sessions: sessionmaker[Session]) -> TestDevice:
    with sessions() as session, session.begin():
        device = devices_service.register_device(
            session,
            principal=SYSTEM,
            data=DeviceCreate(kind="fitted_tag", serial=f"CRASH-{time.time_ns()}"),
        )
        code = pairing.issue_pairing_code(
            session, principal=SYSTEM, device_id=device.id, now=utcnow()
        ).code
        keys = generate_device_key_pair(device_id=str(device.id))
        pairing.pair_device(
            session, serial=device.serial, code=code, public_key=keys.public_key_raw(), now=utcnow()
        )
        return TestDevice(
            str(device.id), device.serial, DeviceSigner(str(device.id), keys.private_key)
        )


def _upload_until_refused(
    base: str, device: TestDevice, acked: list[int], stop: threading.Event
) -> None:
    with httpx.Client(base_url=base, timeout=5) as client:
        while not stop.is_set():
            items = [device.position(lat=51.5 + i * 1e-5) for i in range(20)]
            body = json.dumps({"items": items}).encode()
            try:
                response = client.post(
                    "/device/v1/telemetry",
                    content=body,
                    headers=device.signed("POST", "/device/v1/telemetry", body),
                )
            except httpx.HTTPError:
                return
            if response.status_code == 200:
                acked.extend(response.json()["accepted"])


async def _consumer(device_id: str) -> tuple[NatsBus, object]:
    bus = await NatsBus.connect(NATS_URL)
    subscription = await bus.subscribe(
        f"openem.telemetry.{device_id}", durable=f"crash-{device_id[:8]}", ack_wait=30
    )
    return bus, subscription


async def _drain(subscription: object, wanted: set[int], timeout: float) -> set[int]:
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while not wanted <= seen and time.monotonic() < deadline:
        for message in await subscription.fetch(100, timeout=1):  # type: ignore[attr-defined]
            seen.update(item["seq"] for item in json.loads(message.data)["items"])
            await message.ack()
    return seen


def test_kill_9_during_upload_loses_no_acknowledged_item(
    database_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    device = _paired_device(sessions)
    loop = asyncio.new_event_loop()
    try:
        bus, subscription = loop.run_until_complete(_consumer(device.device_id))
    except Exception as error:
        loop.close()
        if IN_CI:
            pytest.fail(f"NATS is required in CI: {error}")
        pytest.skip("NATS not reachable; the crash test needs a bus shared between processes")
    port = free_port()
    env = {
        "OPENEM_DATABASE_URL": database_url,
        "OPENEM_BUS_URL": NATS_URL,
        "OPENEM_PORT": str(port),
    }
    base = f"http://127.0.0.1:{port}"
    acked: list[int] = []
    try:
        with running(["serve"], env=env, cwd=tmp_path) as server:
            wait_for_health(base, timeout=30)
            stop = threading.Event()
            uploader = threading.Thread(
                target=_upload_until_refused, args=(base, device, acked, stop)
            )
            uploader.start()
            time.sleep(1.5)
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
            stop.set()
            uploader.join(timeout=10)
        assert len(acked) >= 20, "the uploader should have been acknowledged before the kill"
        with sessions() as session:
            stored = set(
                session.scalars(
                    select(Position.seq).where(Position.device_id == uuid.UUID(device.device_id))
                )
            )
        assert set(acked) <= stored
        with running(["serve"], env=env, cwd=tmp_path):
            wait_for_health(base, timeout=30)
            seen = loop.run_until_complete(_drain(subscription, set(acked), timeout=20))
        assert set(acked) <= seen
    finally:
        loop.run_until_complete(bus.close())
        loop.close()
