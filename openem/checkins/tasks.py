"""The periodic check-in task inside the app: plan, issue due prompts, expire old ones.

Started once per app process from the lifespan (``OPENEM_CHECKIN_SCHEDULER``); a
database lease (as for the daily purge) lets exactly one process run each pass, however
many workers there are. The clock is injected so tests drive time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from openem.checkins.config import CheckinConfig
from openem.checkins.service import run_cycle
from openem.db.base import utcnow
from openem.db.session import transaction
from openem.logs import get_logger
from openem.retention.tasks import take_lease

log = get_logger(__name__)
JOB = "checkins.cycle"
HOLDER = f"{socket.gethostname()}:{os.getpid()}"
Clock = Callable[[], datetime]


class CheckinScheduler:
    def __init__(
        self, *, sessions: sessionmaker[Session], config: CheckinConfig, clock: Clock = utcnow,
    ) -> None:
        self.sessions = sessions
        self.config = config
        self.clock = clock

    def run_once(self) -> dict[str, int]:
        """One pass in one transaction (sync: runs in a worker thread)."""
        with transaction(self.sessions) as session:
            return run_cycle(session, now=self.clock(), config=self.config)

    def _leased_pass(self, interval_s: float) -> None:
        every = timedelta(seconds=interval_s * 0.9)
        if take_lease(self.sessions, name=JOB, holder=HOLDER, now=self.clock(), every=every):
            self.run_once()

    async def run(self, stop: asyncio.Event, *, interval_s: float) -> None:
        while not stop.is_set():
            try:
                await run_in_threadpool(self._leased_pass, interval_s)
            except Exception as error:
                log.error("checkins_cycle_failed", error_type=type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
