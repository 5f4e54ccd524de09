"""Group commit: uploads queued together are stored in one transaction, each answered alone."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from openem.access.principal import SYSTEM
from openem.bus.outbox import OutboxMessage
from openem.db.base import utcnow
from openem.db.engine import make_engine
from openem.db.session import make_session_factory
from openem.devices import pairing
from openem.devices import service as devices_service
from openem.devices.schemas import DeviceCreate
from openem.errors import Invalid
from openem.ingest import writer as writer_module
from openem.ingest.api import parse_telemetry
from openem.ingest.auth import DeviceUnauthorised, SignedRequest
from openem.ingest.service import IngestResult
from openem.ingest.writer import Outcome, Overloaded, TelemetryJob, TelemetryWriter
from openem.locations.models import Position
from openem.sim.signer import DeviceSigner, generate_device_key_pair
from tests.support.devices import TestDevice
from tests.support.writer import writes_blocked

PATH = "/device/v1/telemetry"


def _paired(sessions: sessionmaker[Session]) -> TestDevice:
    with sessions() as session, session.begin():
        device = devices_service.register_device(
            session, principal=SYSTEM,
            data=DeviceCreate(kind="fitted_tag", serial=f"GROUP-{time.time_ns()}"),
        )
        code = pairing.issue_pairing_code(
            session, principal=SYSTEM, device_id=device.id, now=utcnow()
        ).code
        keys = generate_device_key_pair(device_id=str(device.id))
        pairing.pair_device(
            session, serial=device.serial, code=code, public_key=keys.public_key_raw(), now=utcnow()
        )
        signer = DeviceSigner(str(device.id), keys.private_key)
        return TestDevice(str(device.id), device.serial, signer)


def _job(device: TestDevice, items: list[dict[str, Any]] | None = None,
         body: bytes | None = None) -> TelemetryJob:
    body = body if body is not None else json.dumps({"items": items or []}).encode()
    headers = {k.lower(): v for k, v in device.signed("POST", PATH, body).items()}
    signed = SignedRequest(method="POST", path=PATH, headers=headers, body=body)
    return TelemetryJob(signed=signed, parsed=parse_telemetry(body))


def _stored(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Position)) or 0,
            session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
        )


def test_a_batch_answers_each_upload_with_its_own_outcome(
    sessions: sessionmaker[Session],
) -> None:
    good, other, retired = _paired(sessions), _paired(sessions), _paired(sessions)
    with sessions() as session, session.begin():
        pairing.retire_device(
            session, principal=SYSTEM, device_id=uuid.UUID(retired.device_id), now=utcnow()
        )
    batch = [
        _job(good, [good.position(), good.position()]),
        _job(other, body=b"{not json"),
        _job(retired, [retired.position()]),
    ]
    TelemetryWriter(sessions).write(batch)
    result = batch[0].outcome.result()
    assert isinstance(result, IngestResult) and result.accepted == [1, 2]
    assert isinstance(batch[1].outcome.exception(), Invalid)
    assert isinstance(batch[2].outcome.exception(), DeviceUnauthorised)
    assert _stored(sessions) == (2, 1)


def test_a_failed_batch_is_stored_again_upload_by_upload(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    devices = [_paired(sessions) for _ in range(3)]
    real = writer_module.ingest_many

    def refuses_batches(
        session: Session, uploads: list[Any], **options: Any
    ) -> list[IngestResult]:
        if len(uploads) > 1:
            raise RuntimeError("batch failed")
        return real(session, uploads, **options)

    monkeypatch.setattr(writer_module, "ingest_many", refuses_batches)
    batch = [_job(device, [device.position()]) for device in devices]
    TelemetryWriter(sessions).write(batch)
    assert [job.outcome.result().accepted for job in batch] == [[1], [1], [1]]
    assert _stored(sessions) == (3, 3)


ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ON_POSTGRESQL = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@ON_SQLITE  # where uploads are planned ahead of the write transaction
def test_an_upload_that_cannot_be_planned_ahead_is_planned_in_the_transaction(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    devices = [_paired(sessions) for _ in range(2)]
    real = writer_module.plan_upload
    troubled = uuid.UUID(devices[0].device_id)

    def fails_for_one(upload: Any, health: Any, **options: Any) -> Any:
        if upload.device.id == troubled:
            raise RuntimeError("planning failed")
        return real(upload, health, **options)

    monkeypatch.setattr(writer_module, "plan_upload", fails_for_one)
    batch = [_job(device, [device.position(), device.position()]) for device in devices]
    TelemetryWriter(sessions).write(batch)
    assert [job.outcome.result().accepted for job in batch] == [[1, 2], [1, 2]]
    assert _stored(sessions) == (4, 2)


def test_uploads_from_one_device_go_in_order_in_separate_batches(
    sessions: sessionmaker[Session],
) -> None:
    device, other = _paired(sessions), _paired(sessions)
    first = device.position()

    async def send_all() -> list[IngestResult]:
        writer = TelemetryWriter(sessions)
        jobs = [
            (_job(device, [first])),
            (_job(device, [first, device.position()])),
            (_job(other, [other.position()])),
        ]
        for job in jobs:
            job.waiter = asyncio.get_running_loop().create_future()
            writer._queue.put(job)  # queued before the thread runs: one batch's worth
        writer.start()
        results = [await job.waiter for job in jobs if job.waiter is not None]
        writer.stop()
        return results

    one, two, three = asyncio.run(send_all())
    assert (one.accepted, one.duplicates) == ([1], [])
    assert (two.accepted, two.duplicates) == ([2], [1])
    assert three.accepted == [1]
    assert _stored(sessions) == (3, 3)


def test_stopping_stores_what_is_queued_and_refuses_what_comes_after(
    sessions: sessionmaker[Session],
) -> None:
    device = _paired(sessions)

    writer = TelemetryWriter(sessions)
    queued = _job(device, [device.position()])
    writer._queue.put(queued)  # queued before the thread runs
    writer.start()
    writer.stop()
    assert queued.outcome.result().accepted == [1]
    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(writer.store(queued.signed, queued.parsed))


def _store(writer: TelemetryWriter, job: TelemetryJob) -> asyncio.Task[IngestResult]:
    return asyncio.create_task(writer.store(job.signed, job.parsed))


async def _writing(writer: TelemetryWriter) -> None:
    """Until the writer has begun writing a batch."""
    deadline = time.monotonic() + 10
    while writer._busy_since is None:
        assert time.monotonic() < deadline, "the writer did not begin in 10 s"
        await asyncio.sleep(0.01)


def test_a_writer_busy_beyond_its_wait_refuses_new_uploads_and_loses_none_it_queued(
    sessions: sessionmaker[Session],
) -> None:
    device = _paired(sessions)
    refused_before = _sample("openem_telemetry_shed_total")

    async def scenario() -> tuple[Overloaded, IngestResult]:
        writer = TelemetryWriter(sessions, max_wait_s=0.2, retry_after_s=30)
        writer.start()
        try:
            writer.admit()
            with writes_blocked(sessions):
                stuck = _store(writer, _job(device, [device.position()]))
                await _writing(writer)
                await asyncio.sleep(0.3)  # busy beyond the 0.2 s allowed
                with pytest.raises(Overloaded) as refused:
                    writer.admit()
            result = await stuck
            writer.admit()  # the writer is free again
            return refused.value, result
        finally:
            writer.stop()

    refused, result = asyncio.run(scenario())
    assert refused.status == 503 and 30 <= refused.retry_after <= 60
    assert result.accepted == [1]
    assert _stored(sessions) == (1, 1)
    assert _sample("openem_telemetry_shed_total") == refused_before + 1


def test_new_uploads_are_refused_while_queued_ones_have_waited_too_long(
    sessions: sessionmaker[Session],
) -> None:
    device, other = _paired(sessions), _paired(sessions)

    async def scenario() -> list[IngestResult]:
        writer = TelemetryWriter(sessions, max_wait_s=5.0)
        writer.start()
        try:
            with writes_blocked(sessions):
                late = _job(device, [device.position()])
                late.queued_at -= 10  # it has waited twice the limit already
                late.waiter = first = asyncio.get_running_loop().create_future()
                writer._queue.put(late)
                await _writing(writer)  # it has been taken, and waits on the lock
                writer.admit()  # nothing else queued: still admitted
                behind = _store(writer, _job(other, [other.position()]))
                await asyncio.sleep(0)  # queued
                with pytest.raises(Overloaded):
                    writer.admit()
            results = [await first, await behind]
            writer.admit()  # the queue has drained
            return results
        finally:
            writer.stop()

    assert [result.accepted for result in asyncio.run(scenario())] == [[1], [1]]
    assert _stored(sessions) == (2, 2)


def test_how_long_each_batch_waited_in_the_queue_is_measured(
    sessions: sessionmaker[Session],
) -> None:
    device = _paired(sessions)
    job = _job(device, [device.position()])
    job.queued_at -= 3  # queued three seconds ago
    batches = _sample("openem_telemetry_queue_wait_seconds_count")
    under, over = (_sample("openem_telemetry_queue_wait_seconds_bucket", le=le)
                   for le in ("2.5", "5.0"))

    async def send() -> IngestResult:
        writer = TelemetryWriter(sessions)
        writer.start()
        try:
            job.waiter = asyncio.get_running_loop().create_future()
            writer._queue.put(job)
            return await job.waiter
        finally:
            writer.stop()

    assert asyncio.run(send()).accepted == [1]
    assert _sample("openem_telemetry_queue_wait_seconds_count") == batches + 1
    assert _sample("openem_telemetry_queue_wait_seconds_bucket", le="2.5") == under
    assert _sample("openem_telemetry_queue_wait_seconds_bucket", le="5.0") == over + 1


def test_uploads_awaited_on_an_event_loop_get_their_own_outcomes(
    sessions: sessionmaker[Session],
) -> None:
    devices = [_paired(sessions) for _ in range(3)]
    jobs = [_job(device, [device.position()]) for device in devices]
    jobs[1] = _job(devices[1], body=b"{not json")

    async def send_all() -> list[IngestResult | BaseException]:
        writer = TelemetryWriter(sessions)
        writer.start()
        try:
            stores = [writer.store(job.signed, job.parsed) for job in jobs]
            return await asyncio.gather(*stores, return_exceptions=True)
        finally:
            writer.stop()

    first, second, third = asyncio.run(send_all())
    assert isinstance(first, IngestResult) and first.accepted == [1]
    assert isinstance(second, Invalid)
    assert isinstance(third, IngestResult) and third.accepted == [1]


def test_an_upload_whose_device_hung_up_is_still_stored_and_others_answered(
    sessions: sessionmaker[Session],
) -> None:
    """Cancelling the wait (the client went away) neither unstores the upload nor
    disturbs the answer to another upload in the same batch."""
    gone, staying = _paired(sessions), _paired(sessions)
    abandoned, awaited = _job(gone, [gone.position()]), _job(staying, [staying.position()])

    async def send_both() -> IngestResult:
        writer = TelemetryWriter(sessions)
        for job in (abandoned, awaited):
            job.waiter = asyncio.get_running_loop().create_future()
            writer._queue.put(job)  # queued before the thread runs: one batch
        assert abandoned.waiter is not None and awaited.waiter is not None
        abandoned.waiter.cancel()
        writer.start()
        try:
            return await awaited.waiter
        finally:
            writer.stop()

    assert asyncio.run(send_both()).accepted == [1]
    assert _stored(sessions) == (2, 2)


def _arriving_later(writer: TelemetryWriter, job: TelemetryJob, after_s: float) -> None:
    timer = threading.Timer(after_s, writer._queue.put, args=(job,))
    timer.start()


def test_under_load_the_writer_waits_a_moment_for_more_uploads(
    sessions: sessionmaker[Session],
) -> None:
    first, second = _paired(sessions), _paired(sessions)
    writer = TelemetryWriter(sessions, gather=2, gather_wait_s=2.0)
    writer._last_batch = 3  # the last batch was shared: under load
    writer._queue.put(_job(first, [first.position()]))
    _arriving_later(writer, _job(second, [second.position()]), after_s=0.05)
    assert len(writer._next_batch()) == 2


def test_a_lone_upload_does_not_wait_for_company(sessions: sessionmaker[Session]) -> None:
    first, second = _paired(sessions), _paired(sessions)
    writer = TelemetryWriter(sessions, gather=2, gather_wait_s=2.0)
    writer._last_batch = 1  # idle: the last batch was a single upload
    writer._queue.put(_job(first, [first.position()]))
    _arriving_later(writer, _job(second, [second.position()]), after_s=0.3)
    started = time.monotonic()
    assert len(writer._next_batch()) == 1
    assert time.monotonic() - started < 0.3
    assert len(writer._next_batch()) == 1  # the second, once it came


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_stored_items_and_batch_sizes_are_counted_for_the_metrics(
    sessions: sessionmaker[Session],
) -> None:
    first, second = _paired(sessions), _paired(sessions)
    before = {
        outcome: _sample("openem_telemetry_items_total", outcome=outcome)
        for outcome in ("accepted", "duplicate")
    }
    batches = _sample("openem_telemetry_batch_uploads_count")
    writer = TelemetryWriter(sessions)
    writer.write([_job(first, [first.position(seq=1)]), _job(second, [second.position(seq=1)])])
    writer.write([_job(first, [first.position(seq=1), first.position(seq=2)])])
    assert _sample("openem_telemetry_items_total", outcome="accepted") - before["accepted"] == 3
    assert _sample("openem_telemetry_items_total", outcome="duplicate") - before["duplicate"] == 1
    assert _sample("openem_telemetry_batch_uploads_count") - batches == 2


def test_an_outcome_is_answered_once_with_a_result_or_an_error() -> None:
    pending = Outcome()
    assert not pending.done()
    with pytest.raises(RuntimeError, match="not been answered"):
        pending.result()
    refused = Outcome()
    refused.set_exception(DeviceUnauthorised("bad_signature"))
    assert refused.done() and isinstance(refused.exception(), DeviceUnauthorised)
    with pytest.raises(DeviceUnauthorised):
        refused.result()
    stored = Outcome()
    stored.set_result(IngestResult(accepted=[1]))
    assert stored.done() and stored.exception() is None and stored.result().accepted == [1]



@pytest.fixture
def one_connection(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a pool of one connection, so that a test knows which one to end, not
    tested before each use: as if it died between the pool's test and its statement."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    yield make_session_factory(engine)
    engine.dispose()


def _end_backend(database_url: str, pid: int) -> None:
    """What a database restart does to a pooled connection."""
    dsn = make_url(database_url).set(drivername="postgresql")
    with psycopg.connect(dsn.render_as_string(hide_password=False), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def _backend(session: Session) -> int:
    return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


@ON_POSTGRESQL
def test_an_upload_read_on_a_connection_that_died_moments_before_is_read_again_and_stored(
    one_connection: sessionmaker[Session], database_url: str
) -> None:
    device = _paired(one_connection)
    with one_connection() as session:
        pid = _backend(session)
    _end_backend(database_url, pid)

    job = _job(device, [device.position()])
    TelemetryWriter(one_connection).write([job])
    assert job.outcome.result().accepted == [1]
    assert _stored(one_connection) == (1, 1)


@ON_POSTGRESQL
def test_an_upload_whose_write_connection_dies_is_written_again_and_stored(
    one_connection: sessionmaker[Session], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = _paired(one_connection)
    real, attempts = writer_module.ingest_many, []

    def connection_dies_first(
        session: Session, uploads: list[Any], **options: Any
    ) -> list[IngestResult]:
        attempts.append(len(uploads))
        if len(attempts) == 1:
            _end_backend(database_url, _backend(session))
        return real(session, uploads, **options)

    monkeypatch.setattr(writer_module, "ingest_many", connection_dies_first)
    job = _job(device, [device.position()])
    TelemetryWriter(one_connection).write([job])
    assert job.outcome.result().accepted == [1]
    assert attempts == [1, 1]
    assert _stored(one_connection) == (1, 1)


@ON_POSTGRESQL
def test_on_postgresql_a_batch_is_authenticated_planned_and_stored_in_one_transaction(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    devices = [_paired(sessions) for _ in range(3)]
    began: list[object] = []
    count_begin = began.append
    event.listen(engine, "begin", count_begin)
    batch = [_job(device, [device.position()]) for device in devices]
    TelemetryWriter(sessions).write(batch)
    event.remove(engine, "begin", count_begin)
    assert [job.outcome.result().accepted for job in batch] == [[1], [1], [1]]
    assert len(began) == 1
    assert _stored(sessions) == (3, 3)
