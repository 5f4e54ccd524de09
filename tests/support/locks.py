"""Holding what the telemetry writer needs, to see what happens while it waits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker


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
