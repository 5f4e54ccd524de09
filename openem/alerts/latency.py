"""Alert latency under load: from a fix's arrival at ingest to its alert on the stream.

Runs the real pipeline in one process: ingest (outbox) -> relay -> bus -> rules
worker -> alert events -> stream hub. A background load of compliant fixes is
offered at a bounded rate; meanwhile probe subjects each send one fix inside their
exclusion zone (the policy opens on one fix here, so the probe decides the alert),
and the time from the start of that upload to the alert reaching a stream
subscriber is recorded. Each device's uploads carry the fixes it took since its last
one, in time order, as a real device's do.

Then the rules consumer alone: how many fetched batches (50 messages of 20 fixes)
it takes per second, without the load generator competing for the interpreter.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from openem.access.principal import SYSTEM
from openem.alerts.sink import AlertsSink
from openem.alerts.stream import AlertHub
from openem.bench_common import refuse_real_subjects
from openem.bus.memory import MemoryBus
from openem.bus.outbox import relay_until
from openem.db import migrate
from openem.db.base import utcnow
from openem.db.engine import make_engine
from openem.db.session import make_session_factory, transaction
from openem.devices import service as devices_service
from openem.devices.models import Device
from openem.devices.schemas import DeviceCreate
from openem.ingest.items import AnyItem, PositionItem
from openem.ingest.service import Upload, ingest_many
from openem.rules.config import RulesConfig
from openem.rules.hysteresis import HysteresisPolicy
from openem.rules.tasks import RulesWorker
from openem.subjects import assessments
from openem.subjects import service as subjects_service
from openem.subjects.schemas import OrderCreate, SubjectCreate
from openem.zones import service as zones_service
from openem.zones.schemas import ZoneCreate

LAT, LON = 51.5, -0.12
FIXES_PER_UPLOAD = 20
TICK_S = 0.1
CAPACITY_BATCH = 50


@dataclass
class Wearer:
    subject_id: uuid.UUID
    device_id: uuid.UUID
    order_id: uuid.UUID
    lat: float
    seq: itertools.count[int]
    last_fix: datetime | None = None


def _setup(sessions: sessionmaker[Session], *, count: int, run: str) -> list[Wearer]:
    now = utcnow()
    # Monitored since before the first upload's first fix (ingest drops what came before).
    since = now - timedelta(minutes=5)
    wearers = []
    with transaction(sessions) as session:
        assessments.approve_every_cohort_for_fictional_data(session, now=now)
        for i in range(count):
            subject = subjects_service.create_subject(session, principal=SYSTEM, data=SubjectCreate(
                given_name="Bench", family_name="Fictional", date_of_birth="1980-01-01",
                nationality="GBR", home_office_reference=f"B{run}{i:06d}",
            ))
            subject.fictional = True
            order = subjects_service.create_order(session, principal=SYSTEM, data=(
                OrderCreate.model_validate({
                    "subject_id": str(subject.id), "legal_basis_reference": "bench",
                    "conviction": {"offence": "bench", "court": "bench",
                                   "conviction_date": "2020-01-01"},
                    "immigration_status": "deportation_order", "device_kind": "fitted_tag",
                    "starts_at": since.isoformat(),
                    "ends_at": (now + timedelta(days=30)).isoformat(), "checkins_per_day": 0,
                })))
            device = devices_service.register_device(
                session, principal=SYSTEM, data=DeviceCreate(kind="fitted_tag",
                                                             serial=f"BENCH-{run}-{i}"))
            devices_service.assign_device(session, principal=SYSTEM, device_id=device.id,
                                          order_id=order.id, now=since)
            lat = LAT + (i % 100) * 0.01
            zones_service.create_zone(session, principal=SYSTEM, subject_id=subject.id, now=now,
                                      data=ZoneCreate(name="x", kind="exclusion", radius_m=200,
                                                      geometry={"type": "Point",
                                                                "coordinates": [LON, lat]}))
            wearers.append(Wearer(subject.id, device.id, order.id, lat, itertools.count(1),
                                  last_fix=now))
    return wearers


def _upload(
    sessions: sessionmaker[Session], wearers: list[Wearer], *, inside: bool, fixes: int
) -> None:
    """One upload per wearer of the fixes its device took since its last one, in order (a
    device's fixes never overlap in time: only a late upload makes the rules replay
    history), stored together as the server's telemetry writer stores queued uploads."""
    now = utcnow()
    uploads = []
    with transaction(sessions) as session:
        devices = {
            d.id: d
            for d in session.scalars(
                select(Device).where(Device.id.in_([w.device_id for w in wearers]))
            )
        }
        for wearer in wearers:
            lat = wearer.lat if inside else wearer.lat + 0.005
            since = wearer.last_fix or now - timedelta(seconds=fixes)
            step = (now - since) / fixes
            items: list[AnyItem] = [
                PositionItem(seq=next(wearer.seq), ts=since + step * (k + 1), lat=lat, lon=LON,
                             accuracy_m=10.0)
                for k in range(fixes)
            ]
            wearer.last_fix = now
            uploads.append(
                Upload(device=devices[wearer.device_id], items=items, rejected=[], now=now)
            )
        ingest_many(session, uploads)


async def _measure(
    sessions: sessionmaker[Session], *, load: list[Wearer], probes: list[Wearer],
    seconds: float, rate: float,
) -> dict[str, Any]:
    stop = asyncio.Event()
    bus = MemoryBus()
    config = RulesConfig(policy=HysteresisPolicy(open_after_fixes=1, close_after_fixes=1))
    worker = RulesWorker(sessions=sessions, bus=bus, config=config, sink=AlertsSink())
    hub = AlertHub(sessions, poll_s=0.05)
    tasks = [asyncio.create_task(relay_until(stop, sessions, bus, idle_sleep=0.01)),
             asyncio.create_task(worker.consume(stop, "openem.telemetry.>", "rules-telemetry")),
             asyncio.create_task(hub.run(stop))]
    sent: dict[str, float] = {}
    latencies: list[float] = []
    offered = 0
    async with hub.subscribe(SYSTEM) as subscriber:
        async def collect() -> None:
            while True:
                payload = await subscriber.queue.get()
                if payload is None:
                    return
                subject = payload["alert"]["subject_id"]
                if payload["action"] == "raised" and subject in sent:
                    latencies.append(time.monotonic() - sent.pop(subject))

        collector = asyncio.create_task(collect())
        started = time.monotonic()
        probe_every = seconds / max(len(probes), 1)
        cycle = itertools.cycle(load)
        next_probe, budget, last = started, 0.0, started
        while time.monotonic() - started < seconds:
            tick = time.monotonic()
            budget += rate * (tick - last)  # for the time that passed, even if a tick ran late
            last = tick
            uploads = min(len(load), int(budget // FIXES_PER_UPLOAD))
            if uploads:
                group = [next(cycle) for _ in range(uploads)]
                await run_in_threadpool(_upload, sessions, group, inside=False,
                                        fixes=FIXES_PER_UPLOAD)
                budget -= uploads * FIXES_PER_UPLOAD
                offered += uploads * FIXES_PER_UPLOAD
            due = []
            while probes and time.monotonic() >= next_probe:
                due.append(probes.pop())
                next_probe += probe_every
            if due:
                for probe in due:
                    sent[str(probe.subject_id)] = time.monotonic()
                await run_in_threadpool(_upload, sessions, due, inside=True, fixes=1)
            budget = min(budget, rate)
            await asyncio.sleep(max(0.0, TICK_S - (time.monotonic() - tick)))
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + 10
        while sent and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        collector.cancel()
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    ordered = sorted(latencies)
    return {
        "offered_positions_per_s": round(rate),
        "achieved_positions_per_s": round(offered / elapsed),
        "alerts_measured": len(ordered),
        "alerts_missing": len(sent),
        "alert_latency_p50_s": round(statistics.median(ordered), 3) if ordered else None,
        "alert_latency_p99_s": round(ordered[min(len(ordered) - 1,
                                                 int(0.99 * len(ordered)))], 3)
        if ordered else None,
    }


def _consumer_capacity(
    sessions: sessionmaker[Session], load: list[Wearer], *, seconds: float
) -> dict[str, Any]:
    """What one rules consumer takes on its own: fetched batches of 50 messages of 20
    compliant fixes each (as ingest publishes them), timed through `handle_batch`."""
    config = RulesConfig(policy=HysteresisPolicy(open_after_fixes=1, close_after_fixes=1))
    worker = RulesWorker(sessions=sessions, bus=MemoryBus(), config=config, sink=AlertsSink())
    cycle = itertools.cycle(load)
    seqs = itertools.count(10**9)
    taken, busy = 0, 0.0
    deadline = time.monotonic() + max(seconds / 2, 1.0)
    while time.monotonic() < deadline or taken == 0:
        now = utcnow()
        batch = [(f"openem.telemetry.{w.device_id}", json.dumps(_message(w, now, seqs)).encode())
                 for w in itertools.islice(cycle, CAPACITY_BATCH)]
        started = time.perf_counter()
        worker.handle_batch(batch)
        busy += time.perf_counter() - started
        taken += CAPACITY_BATCH * FIXES_PER_UPLOAD
    return {"rules_consumer_batches_per_s": round(taken / FIXES_PER_UPLOAD / busy),
            "rules_consumer_positions_per_s": round(taken / busy)}


def _message(wearer: Wearer, now: datetime, seqs: itertools.count[int]) -> dict[str, Any]:
    since = wearer.last_fix or now - timedelta(seconds=FIXES_PER_UPLOAD)
    step = (now - since) / FIXES_PER_UPLOAD
    wearer.last_fix = now
    return {
        "device_id": str(wearer.device_id), "subject_id": str(wearer.subject_id),
        "order_id": str(wearer.order_id), "received_at": now.isoformat(),
        "items": [{"type": "position", "seq": next(seqs), "ts": (since + step * (k + 1))
                   .isoformat(), "lat": wearer.lat + 0.005, "lon": LON, "accuracy_m": 10.0,
                   "flags": []} for k in range(FIXES_PER_UPLOAD)],
    }


def run_alert_latency(
    *, seconds: float, rate: float = 3_300.0, subjects: int = 500, probes: int = 40,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Figures for the latency half of `openem bench rules` (a fresh database per run)."""
    with tempfile.TemporaryDirectory() as folder:
        url = database_url or f"sqlite:///{Path(folder) / 'latency.db'}"
        refuse_real_subjects(url, bench="alert latency")
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            sessions = make_session_factory(engine)
            run = uuid.uuid4().hex[:6]
            wearers = _setup(sessions, count=subjects + probes, run=run)
            figures = asyncio.run(_measure(sessions, load=wearers[probes:],
                                           probes=wearers[:probes], seconds=seconds, rate=rate))
            return figures | _consumer_capacity(sessions, wearers[probes:], seconds=seconds)
        finally:
            engine.dispose()
