"""Engines for the embedded default (SQLite, WAL) and production (PostgreSQL/PostGIS)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from openem.db.checkpoint import WRITER_CHECKPOINT_PAGES

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option for transactions that only read: on SQLite they begin deferred,
# without the writer lock, so they never queue behind (or hold up) a writer.
READ_ONLY = "openem_read_only"

# The sqlite3 module binds None and bytes only after looking for an adapter, and a
# look-up that finds none builds and discards an AttributeError: about 2,000
# instructions a value (callgrind), where fixes often lack speed, heading and
# altitude. A registered adapter is found at once; these hand the value back, in C.
_NONE_AS_IT_IS = cast(Callable[[None], None], {}.get)  # a C function that gives None back
sqlite3.register_adapter(type(None), _NONE_AS_IT_IS)
sqlite3.register_adapter(bytes, bytes)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite ``url``; None for another database or one in memory."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _prepare_sqlite_file(url: str) -> None:
    database = sqlite_file(url)
    if database:
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _flock_within(fd: int, seconds: float) -> bool:
    """Take the exclusive lock, polling every millisecond or two; False after ``seconds``
    (then ``BEGIN IMMEDIATE`` waits on SQLite's busy handler and reports a busy database,
    rather than a caller that holds the lock in the same thread waiting for ever)."""
    deadline = time.monotonic() + seconds
    pause = 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.002)


class _QueuedWriterConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions queue on a lock file.

    SQLite lets one writer in at a time and makes the others retry with sleeps
    that back off to 100 ms, so under concurrent writers (threads or worker
    processes) a request can wait far longer than the write it waits for. An
    exclusive ``flock`` taken before ``BEGIN IMMEDIATE`` and released after
    ``COMMIT``/``ROLLBACK`` makes writers queue on a lock they poll every
    millisecond or two instead, never longer than SQLite's own busy timeout.
    """

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._lock_fd = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._locked = False

    def begin_immediate(self) -> None:
        self._locked = _flock_within(self._lock_fd, SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._unlock()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._unlock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._unlock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._unlock()
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    def _unlock(self) -> None:
        if self._locked:
            self._locked = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)


def _install_sqlite_recipe(engine: Engine) -> None:
    """SQLAlchemy's documented recipe: driver transactions off, BEGIN IMMEDIATE for writers
    (queued on the writer lock file for a database file); a plain deferred BEGIN for
    transactions marked :data:`READ_ONLY`."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        dbapi_connection = connection.connection.dbapi_connection
        if connection.get_execution_options().get(READ_ONLY):
            dbapi_connection.execute("BEGIN")  # the driver's own: no SQLAlchemy result
            return
        if isinstance(dbapi_connection, _QueuedWriterConnection):
            dbapi_connection.begin_immediate()
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    if is_sqlite(url):
        _prepare_sqlite_file(url)
        connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": 30}
        if sqlite_file(url):
            connect_args["factory"] = _QueuedWriterConnection
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _install_sqlite_recipe(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)
