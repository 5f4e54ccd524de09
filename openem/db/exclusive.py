"""A lock per database that one process at a time holds, for work that must run once
however many API processes share the database (the outbox relay).

On PostgreSQL it is a session-level advisory lock, held on a connection kept for it; on
a SQLite file, an ``flock`` on a file beside the database. Either is released when the
holder's process dies (PostgreSQL ends the dead client's session), so another process
takes over. A SQLite database in memory is seen by one process only: its lock is always
held.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from openem.db.engine import sqlite_file
from openem.logs import get_logger

log = get_logger(__name__)


def advisory_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name``."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class DatabaseLock:
    """``hold()`` takes the lock if it is free and says whether this process has it.
    A lock already held is checked at most every ``check_every_s``: on PostgreSQL the
    connection holding it may have died (the database restarted), and with it the lock.
    Not thread-safe: one owner calls it."""

    def __init__(self, engine: Engine, name: str, *, check_every_s: float = 1.0) -> None:
        self.engine, self.name, self.check_every_s = engine, name, check_every_s
        self._connection: Connection | None = None
        self._fd = -1
        self._checked_at = -float("inf")
        self.held = False

    def check_due(self) -> bool:
        """Whether ``hold()`` would look at the database (or the lock file)."""
        return not self.held or time.monotonic() - self._checked_at >= self.check_every_s

    def hold(self) -> bool:
        if not self.check_due():
            return True
        self._checked_at = time.monotonic()
        if self.engine.dialect.name == "postgresql":
            self.held = self._hold_advisory()
        else:
            self.held = self._hold_file()
        return self.held

    def release(self) -> None:
        self.held = False
        self._end_session(unlock=True)
        if self._fd >= 0:
            os.close(self._fd)  # releases the flock
            self._fd = -1

    def _hold_advisory(self) -> bool:
        try:
            if self._connection is None:
                self._connection = self.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT"
                )
            if self.held:  # the session is alive, so its lock is
                return bool(self._connection.execute(text("SELECT true")).scalar_one())
            taken = self._connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": advisory_key(self.name)}
            ).scalar_one()
            if not taken:  # holding nothing, the connection can serve others until next time
                connection, self._connection = self._connection, None
                connection.close()
            return bool(taken)
        except SQLAlchemyError as error:
            log.warning("database_lock_failed", lock=self.name, error_type=type(error).__name__)
            self._end_session()
            return False

    def _end_session(self, *, unlock: bool = False) -> None:
        """Close the connection for good, not back into the pool: a session-level advisory
        lock lives as long as its session, pooled or not. ``unlock`` first, so that the
        next holder can take it at once: the server ends a closed session a moment later."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            if unlock:  # on failure, the session ends below and the lock with it
                with contextlib.suppress(SQLAlchemyError):
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                       {"key": advisory_key(self.name)})
            connection.invalidate()
            connection.close()

    def _hold_file(self) -> bool:
        database = sqlite_file(self.engine.url.render_as_string(hide_password=False))
        if database is None:
            return True
        if self._fd < 0:
            self._fd = os.open(f"{database}-{self.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
