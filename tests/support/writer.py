"""The telemetry writer at work: uploads queued straight to it, and what it needs held
by another transaction, to see what happens while it waits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from openem.ingest.api import TELEMETRY_PATH, parse_telemetry
from openem.ingest.auth import SignedRequest
from openem.ingest.writer import TelemetryJob
from tests.support.devices import TestDevice


def queued_upload(device: TestDevice) -> TelemetryJob:
    """An upload of one fix, signed by ``device``, as the writer's queue holds it."""
    body = json.dumps({"items": [device.position()]}).encode()
    headers = {k.lower(): v for k, v in device.signed("POST", TELEMETRY_PATH, body).items()}
    signed = SignedRequest(method="POST", path=TELEMETRY_PATH, headers=headers, body=body)
    return TelemetryJob(signed=signed, parsed=parse_telemetry(body))


def until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, "the writer did not get there in 10 s"
        time.sleep(0.01)


@contextmanager
def writes_blocked(sessions: sessionmaker[Session], *, at_most_s: float = 15.0) -> Iterator[None]:
    """Another transaction holds what the writer needs to store: SQLite's one write lock,
    or on PostgreSQL the positions table. Released on leaving, or after ``at_most_s``
    whatever happens, so that a request that should have been refused at once cannot
    wait for the lock forever and hang the test."""
    taken, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with sessions() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("LOCK TABLE positions IN EXCLUSIVE MODE"))
            else:
                session.execute(text("DELETE FROM positions WHERE 1 = 0"))
            taken.set()
            leave.wait(at_most_s)

    holder = threading.Thread(target=hold, name="writes-blocked")
    holder.start()
    try:
        if not taken.wait(10):
            raise RuntimeError("could not take the lock in 10 s")
        yield
    finally:
        leave.set()
        holder.join()
