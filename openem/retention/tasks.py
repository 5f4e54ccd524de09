"""The daily job inside `openem serve`: purge, drain bus purges, escalate overdue reviews,
forget stale rate-limit counts.

Every worker process starts the loop, but a lease row in the database lets
exactly one of them run each day's job (APScheduler-style per-process jobs
would run once per worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from openem.bus.base import Bus
from openem.config import Settings
from openem.db.base import utcnow
from openem.http import ratelimit
from openem.logs import get_logger
from openem.retention import purge
from openem.retention.models import JobLease
from openem.retention.schedules import schedules_from_settings
from openem.subjects import reviews

log = get_logger(__name__)
JOB = "retention.daily"
HOLDER = f"{socket.gethostname()}:{os.getpid()}"


def take_lease(
    sessions: sessionmaker[Session],
    *,
    name: str,
    holder: str,
    now: datetime,
    every: timedelta,
) -> bool:
    """True when ``holder`` may run job ``name`` now (and no one else may for ``every``)."""
    try:
        with sessions() as session, session.begin():
            if session.get(JobLease, name) is None:
                session.add(JobLease(name=name, holder=holder, expires_at=now + every))
                return True
    except IntegrityError:
        return False
    with sessions() as session, session.begin():
        taken = session.execute(
            update(JobLease)
            .where(JobLease.name == name, JobLease.expires_at <= now)
            .values(holder=holder, expires_at=now + every, last_run_at=now)
        )
        return bool(taken.rowcount)  # type: ignore[attr-defined]


def daily(sessions: sessionmaker[Session], *, settings: Settings, now: datetime) -> None:
    report = purge.run(
        sessions,
        schedules=schedules_from_settings(settings),
        now=now,
        data_dir=settings.data_dir,
        batch_size=settings.purge_batch_size,
    )
    with sessions() as session, session.begin():
        escalated = reviews.escalate_overdue(session, now=now)
        ratelimit.forget_before(session, now - ratelimit.FORGET_AFTER)
    log.info(
        "retention_daily_done",
        deleted=report.deleted(),
        held=report.held,
        escalated=len(escalated),
    )


async def run_daily(
    stop: asyncio.Event, sessions: sessionmaker[Session], bus: Bus, *, settings: Settings
) -> None:
    every = timedelta(seconds=settings.purge_interval_s)
    while not stop.is_set():
        try:
            now = utcnow()
            if await run_in_threadpool(
                take_lease, sessions, name=JOB, holder=HOLDER, now=now, every=every
            ):
                await run_in_threadpool(daily, sessions, settings=settings, now=now)
            await purge.drain_bus_purges(sessions, bus)
        except Exception as error:
            log.error("retention_daily_failed", error_type=type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), min(every.total_seconds(), 600))
