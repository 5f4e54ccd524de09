"""Group commit for telemetry: one writer thread per process stores uploads together.

Each upload waits for its outcome; the writer takes what has queued up (one
upload per device in a batch, the rest wait for the next), verifies the
signatures against keys looked up in one query, stores everything in one
transaction and answers every upload only after that transaction commits.
Under load a commit, a key lookup and an insert serve many devices at once,
and the writer waits a moment (:data:`GATHER_WAIT_S`) for a fuller batch; when
idle a batch is a single upload and nothing waits for company.

On SQLite, signatures are checked before the write transaction, against keys
read in a read-only transaction, and each upload is planned there too (quality
flags, rows, health, outbox message: :class:`~openem.ingest.service.Plan`)
against the health rows read then: the one writer lock is held only for the
writes themselves. (A device retired between that read and the write has its
last in-flight upload stored, as if it had arrived a moment earlier.)
PostgreSQL locks rows, not the database: there the batch is authenticated,
planned and stored in one transaction, reading the health rows once.

If a batch's transaction fails, its uploads are stored again one by one, so
one upload's failure never refuses another's.

When uploads arrive faster than they can be stored, the queue would grow
without bound, every answer would come later and later, and devices would time
out and send everything again. Instead, once an upload has waited longer than
``max_wait_s`` to be stored (or the writer has been busy that long on one
batch), new uploads are refused at once with :class:`Overloaded` (503 and a
``Retry-After`` spread over ``retry_after_s`` to twice that, so that refused
devices do not all come back together) until the queue has drained: nothing of
a refused upload was stored, and the device sends it again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import random
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import Counter, Histogram
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from openem.db.base import utcnow
from openem.db.session import read_only
from openem.devices.pairing import LiveDevice
from openem.errors import DomainError, Invalid
from openem.ingest.auth import (
    DeviceUnauthorised,
    SignedRequest,
    signed_devices,
)
from openem.ingest.items import ParsedBatch
from openem.ingest.service import (
    HealthRows,
    IngestResult,
    Plan,
    Upload,
    ingest_many,
    plan_upload,
    read_health_rows,
)
from openem.logs import get_logger

log = get_logger(__name__)
BATCH_UPLOADS = Histogram(
    "openem_telemetry_batch_uploads",
    "Uploads stored together in one telemetry transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
ITEMS = Counter("openem_telemetry_items_total", "Telemetry items stored, by outcome", ["outcome"])
_OUTCOMES = {
    name: ITEMS.labels(outcome=name)
    for name in ("accepted", "duplicate", "rejected", "flagged", "dropped")
}
QUEUE_WAIT = Histogram(
    "openem_telemetry_queue_wait_seconds",
    "How long the oldest upload of each telemetry batch waited in the writer's queue",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SHED = Counter(
    "openem_telemetry_shed_total",
    "Uploads refused at once (503) because queued uploads waited too long to be stored",
)
MAX_BATCH = 256
# An upload that would wait longer than this to be stored is better sent again later.
MAX_WAIT_S = 5.0
RETRY_AFTER_S = 30
# Under load (the last batch held more than one upload) the writer waits up to
# GATHER_WAIT_S for GATHER uploads before it begins, as PostgreSQL's commit_delay
# does: a transaction costs about as much as storing six single-fix uploads (about
# 1 ms of the writer's CPU and 0.6 ms of PostgreSQL's: checkout, seven statements,
# commit), so fuller batches cost less per fix. A lone upload never waits. 24 and 4 ms
# gave 15% less server CPU per single-fix request than 8 and 2 ms (docs/benchmarks.md).
GATHER = 24
GATHER_WAIT_S = 0.004


class Overloaded(DomainError):
    """Queued uploads already wait longer than the writer allows: this one is refused
    before any work, and nothing of it is stored."""

    status = 503
    title = "Service unavailable"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"telemetry is queued beyond its limit; send again in {retry_after} s")
        self.retry_after = retry_after


class Outcome:
    """An upload's answer: its result, or the error to raise. The writer thread sets it
    once, before it wakes whoever waits (a concurrent ``Future`` would also build a
    condition variable per upload, which nobody waits on: 3% of a single-fix request)."""

    __slots__ = ("_error", "_result")

    def __init__(self) -> None:
        self._result: IngestResult | None = None
        self._error: BaseException | None = None

    def done(self) -> bool:
        return self._result is not None or self._error is not None

    def set_result(self, result: IngestResult) -> None:
        self._result = result

    def set_exception(self, error: BaseException) -> None:
        self._error = error

    def exception(self) -> BaseException | None:
        return self._error

    def result(self) -> IngestResult:
        if self._error is not None:
            raise self._error
        if self._result is None:
            raise RuntimeError("the upload has not been answered yet")
        return self._result


@dataclass
class TelemetryJob:
    """A signed upload and its parsed batch (or why it could not be parsed).

    The writer settles ``outcome``; an upload awaited on an event loop also has a
    ``waiter`` there, which the loop settles from ``outcome`` once the writer wakes it.
    """

    signed: SignedRequest
    parsed: ParsedBatch | Invalid
    outcome: Outcome = field(default_factory=Outcome)
    waiter: asyncio.Future[IngestResult] | None = None
    queued_at: float = field(default_factory=time.monotonic)

    @property
    def device_key(self) -> uuid.UUID | int:
        return self.signed.claimed_device_id or id(self)


def _wake(jobs: list[TelemetryJob]) -> None:
    """One wake-up per event loop for a whole batch of settled uploads."""
    waiting: dict[asyncio.AbstractEventLoop, list[TelemetryJob]] = defaultdict(list)
    for job in jobs:
        if job.waiter is not None:
            waiting[job.waiter.get_loop()].append(job)
    for loop, settled in waiting.items():
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(_deliver, settled)


def _deliver(jobs: list[TelemetryJob]) -> None:
    for job in jobs:
        waiter = job.waiter
        if waiter is None or waiter.done():  # cancelled: the device hung up
            continue
        error = job.outcome.exception()
        if error is None:
            waiter.set_result(job.outcome.result())
        else:
            waiter.set_exception(error)


def _count(result: IngestResult) -> None:
    for name, count in (
        ("accepted", len(result.accepted)),
        ("duplicate", len(result.duplicates)),
        ("rejected", len(result.rejected)),
        ("flagged", len(result.flagged)),
        ("dropped", len(result.dropped)),
    ):
        if count:
            _OUTCOMES[name].inc(count)


def _connection_died(error: BaseException) -> bool:
    """Whether ``error`` was a pooled connection found dead (the database restarted):
    the pool has then replaced them all, and the work is done again, not refused."""
    return isinstance(error, DBAPIError) and error.connection_invalidated


def _plan(upload: Upload, healths: HealthRows, dialect: str) -> Plan | None:
    """The upload's plan; None if planning failed, so that the write transaction plans it
    again and a failure there is isolated by storing the uploads one by one."""
    try:
        return plan_upload(upload, healths, dialect=dialect)
    except Exception as error:
        log.error("telemetry_plan_failed", error_type=type(error).__name__)
        return None


class TelemetryWriter:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        max_batch: int = MAX_BATCH,
        gather: int = GATHER,
        gather_wait_s: float = GATHER_WAIT_S,
        max_wait_s: float = MAX_WAIT_S,
        retry_after_s: int = RETRY_AFTER_S,
    ) -> None:
        self._sessions = sessions
        # PostgreSQL locks rows, not the database: see _write_in_one_transaction.
        self._in_one_transaction = sessions.kw["bind"].dialect.name == "postgresql"
        self._max_batch = max_batch
        self._gather, self._gather_wait_s = gather, gather_wait_s
        self._last_batch = 0
        self._queue: queue.SimpleQueue[TelemetryJob | None] = queue.SimpleQueue()
        self._waiting: deque[TelemetryJob] = deque()
        self._thread = threading.Thread(target=self._run, name="telemetry-writer", daemon=True)
        self._stopping = False
        self._max_wait_s, self._retry_after_s = max_wait_s, retry_after_s
        self._shedding = False
        self._busy_since: float | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Store what is queued, then end the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def admit(self) -> None:
        """Refuse a new upload (:class:`Overloaded`) while queued uploads wait longer than
        ``max_wait_s`` to be stored; called before the upload is parsed or checked."""
        if (self._shedding and (self._waiting or not self._queue.empty())) or self._stuck():
            SHED.inc()
            raise Overloaded(random.randint(self._retry_after_s, 2 * self._retry_after_s))

    def _stuck(self) -> bool:
        started = self._busy_since
        return started is not None and time.monotonic() - started > self._max_wait_s

    async def store(self, signed: SignedRequest, parsed: ParsedBatch | Invalid) -> IngestResult:
        if self._stopping or not self._thread.is_alive():
            raise RuntimeError("telemetry writer is not running")
        waiter = asyncio.get_running_loop().create_future()
        job = TelemetryJob(signed=signed, parsed=parsed, waiter=waiter)
        self._queue.put(job)
        return await waiter

    def _run(self) -> None:
        while not (self._stopping and not self._waiting):
            batch = self._next_batch()
            if batch:
                self._watch_wait(batch[0])
                self._busy_since = time.monotonic()
                try:
                    self.write(batch)
                except Exception as error:
                    log.error("telemetry_batch_failed", error_type=type(error).__name__)
                    for job in batch:
                        if not job.outcome.done():
                            job.outcome.set_exception(error)
                finally:
                    self._busy_since = None
                _wake(batch)
        self._refuse_late_arrivals()

    def _watch_wait(self, oldest: TelemetryJob) -> None:
        """Start refusing new uploads when the batch's oldest waited beyond ``max_wait_s``;
        stop when one waited under half of it (or the queue has drained: see ``admit``)."""
        waited = time.monotonic() - oldest.queued_at
        QUEUE_WAIT.observe(waited)
        if not self._shedding and waited > self._max_wait_s:
            self._shedding = True
            log.warning("telemetry_shedding_started", waited_s=round(waited, 3))
        elif self._shedding and waited < self._max_wait_s / 2:
            self._shedding = False
            log.info("telemetry_shedding_stopped", waited_s=round(waited, 3))

    def _refuse_late_arrivals(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                job.outcome.set_exception(RuntimeError("telemetry writer stopped"))
                _wake([job])

    def _next_batch(self) -> list[TelemetryJob]:
        if not self._waiting and not self._stopping:
            self._take(block=True)
            if self._last_batch > 1:
                self._wait_for_company()
        while len(self._waiting) < self._max_batch and self._take(block=False):
            pass
        batch: list[TelemetryJob] = []
        devices: set[uuid.UUID | int] = set()
        later: deque[TelemetryJob] = deque()
        while self._waiting and len(batch) < self._max_batch:
            job = self._waiting.popleft()
            if job.device_key in devices:
                later.append(job)
            else:
                devices.add(job.device_key)
                batch.append(job)
        self._waiting.extendleft(reversed(later))
        self._last_batch = len(batch)
        return batch

    def _wait_for_company(self) -> None:
        deadline = time.monotonic() + self._gather_wait_s
        while len(self._waiting) < self._gather and not self._stopping:
            left = deadline - time.monotonic()
            if left <= 0 or not self._take(block=True, timeout=left):
                return

    def _take(self, *, block: bool, timeout: float | None = None) -> bool:
        try:
            job = self._queue.get(block=block, timeout=timeout)
        except queue.Empty:
            return False
        if job is None:
            self._stopping = True
            return False
        self._waiting.append(job)
        return True

    def write(self, batch: list[TelemetryJob]) -> None:
        """Authenticate ``batch`` (distinct devices) and plan its uploads, then store the
        authenticated ones in one transaction, or one by one if that fails."""
        now = utcnow()
        if self._in_one_transaction:
            self._write_in_one_transaction(batch, now)
            return
        try:
            uploads, healths, dialect = self._authenticate(batch, now)
        except Exception as error:
            for job in batch:
                if not job.outcome.done():
                    job.outcome.set_exception(error)
            return
        planned = [
            (job, upload, _plan(upload, healths, dialect))
            for job, upload in uploads
        ]
        if planned:
            self._store(planned)

    def _authenticate(
        self, batch: list[TelemetryJob], now: datetime
    ) -> tuple[list[tuple[TelemetryJob, Upload]], HealthRows, str]:
        """The batch's authenticated, parsed uploads (the others answered), their devices'
        health rows and the database's dialect, read outside any write transaction."""
        with read_only(self._sessions) as connection:
            devices = signed_devices(connection, [job.signed for job in batch], now=now)
            uploads = self._uploads(batch, devices, now)
            healths = read_health_rows(connection, [upload.device.id for _, upload in uploads])
            return uploads, healths, connection.dialect.name

    @staticmethod
    def _uploads(
        batch: list[TelemetryJob], devices: list[LiveDevice | DeviceUnauthorised], now: datetime
    ) -> list[tuple[TelemetryJob, Upload]]:
        """The authenticated, parsed uploads; the others get their refusal."""
        uploads: list[tuple[TelemetryJob, Upload]] = []
        for job, device in zip(batch, devices, strict=True):
            if isinstance(device, Exception):
                job.outcome.set_exception(device)
            elif isinstance(job.parsed, Invalid):
                job.outcome.set_exception(job.parsed)
            else:
                upload = Upload(device=device, items=job.parsed.items,
                                rejected=job.parsed.rejected, now=now)
                uploads.append((job, upload))
        return uploads

    def _write_in_one_transaction(
        self, batch: list[TelemetryJob], now: datetime, *, again: bool = False
    ) -> None:
        """PostgreSQL locks rows, not the database: the batch is authenticated, planned
        and stored in one transaction, on one connection, reading the health rows once
        (locked) instead of once to plan and again to check the plans."""
        stored: list[tuple[TelemetryJob, Upload]] | None = None
        try:
            with self._sessions() as session, session.begin():
                devices = signed_devices(session.connection(),
                                         [job.signed for job in batch], now=now)
                stored = self._uploads(batch, devices, now)
                results = ingest_many(session, [upload for _, upload in stored])
        except Exception as error:
            if stored is not None:
                self._store_singly(stored, error)
            elif _connection_died(error) and not again:
                self._write_in_one_transaction(batch, now, again=True)
            else:
                for job in batch:
                    job.outcome.set_exception(error)
            return
        self._answer(stored, results)

    def _store(self, planned: list[tuple[TelemetryJob, Upload, Plan | None]]) -> None:
        try:
            with self._sessions() as session, session.begin():
                results = ingest_many(
                    session,
                    [upload for _, upload, _ in planned],
                    plans=[plan for _, _, plan in planned],
                )
        except Exception as error:
            self._store_singly([(job, upload) for job, upload, _ in planned], error)
            return
        self._answer([(job, upload) for job, upload, _ in planned], results)

    def _store_singly(self, stored: list[tuple[TelemetryJob, Upload]], error: Exception) -> None:
        """After ``error`` failed the batch's transaction: each upload in one of its own,
        planned afresh (a plan's rows may have been the cause)."""
        if not stored:
            return
        if len(stored) == 1 and not _connection_died(error):
            stored[0][0].outcome.set_exception(error)
            return
        log.warning("telemetry_batch_retried_singly", uploads=len(stored),
                    error_type=type(error).__name__)
        for job, upload in stored:
            self._store_alone(job, upload)

    @staticmethod
    def _answer(stored: list[tuple[TelemetryJob, Upload]], results: list[IngestResult]) -> None:
        if not stored:
            return
        BATCH_UPLOADS.observe(len(stored))
        for (job, _), result in zip(stored, results, strict=True):
            _count(result)
            job.outcome.set_result(result)

    def _store_alone(self, job: TelemetryJob, upload: Upload) -> None:
        try:
            with self._sessions() as session, session.begin():
                result = ingest_many(session, [upload])[0]
        except Exception as error:
            job.outcome.set_exception(error)
            return
        BATCH_UPLOADS.observe(1)
        _count(result)
        job.outcome.set_result(result)
