"""A database lock is held by one process at a time, and passes to another when its holder
releases it, loses its database session or dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from openem.db.engine import make_engine
from openem.db.exclusive import DatabaseLock


@pytest.fixture
def locks(engine: Engine, other_engine: Engine) -> Iterator[tuple[DatabaseLock, DatabaseLock]]:
    first, second = DatabaseLock(engine, "test"), DatabaseLock(other_engine, "test")
    yield first, second
    first.release()
    second.release()


def test_one_holder_at_a_time_and_the_next_takes_over_once_it_is_released(
    locks: tuple[DatabaseLock, DatabaseLock],
) -> None:
    first, second = locks
    assert first.hold()
    assert not second.hold()
    assert first.hold()  # still its own
    first.release()
    assert second.hold()
    assert not first.hold()


@pytest.mark.postgres
def test_a_released_lock_is_free_at_once_not_when_the_server_ends_the_session(
    postgres_url: str,
) -> None:
    engines = [make_engine(postgres_url) for _ in range(2)]
    first, second = DatabaseLock(engines[0], "test"), DatabaseLock(engines[1], "test")
    end: tuple[Callable[[], None], ...] = ()
    try:
        assert first.hold()
        session = first._connection
        assert session is not None
        # The server ends a closed session a moment after the client closes it: here,
        # not before the waiter asks.
        end = (session.invalidate, session.close)
        session.invalidate = session.close = lambda *args: None  # type: ignore[method-assign]
        first.release()
        assert second.hold()
    finally:
        for close in end:
            close()
        first.release()
        second.release()
        for engine in engines:
            engine.dispose()


def test_locks_of_different_names_do_not_exclude_each_other(
    engine: Engine, other_engine: Engine
) -> None:
    relay, other = DatabaseLock(engine, "relay"), DatabaseLock(other_engine, "other")
    try:
        assert relay.hold() and other.hold()
    finally:
        relay.release()
        other.release()


def test_a_database_in_memory_is_one_process_s_alone() -> None:
    engine = make_engine("sqlite://")
    assert DatabaseLock(engine, "test").hold()
    assert DatabaseLock(engine, "test").hold()


_HOLDER = """
import sys, time
from openem.db.engine import make_engine
from openem.db.exclusive import DatabaseLock
lock = DatabaseLock(make_engine(sys.argv[1]), "test")
print(lock.hold(), flush=True)
time.sleep(120)
"""


def test_when_its_holder_is_killed_another_process_takes_the_lock(
    database_url: str, engine: Engine
) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, database_url], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "True"
            waiting = DatabaseLock(engine, "test")
            assert not waiting.hold()
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(timeout=10)
            deadline = time.monotonic() + 10
            while not waiting.hold():  # PostgreSQL ends the dead client's session at once
                assert time.monotonic() < deadline, "the lock outlived its holder"
                time.sleep(0.05)
            waiting.release()
        finally:
            holder.kill()


@pytest.mark.postgres
def test_a_holder_whose_session_died_finds_the_lock_lost_and_another_takes_it(
    postgres_url: str,
) -> None:
    engines = [make_engine(postgres_url) for _ in range(2)]
    first = DatabaseLock(engines[0], "test", check_every_s=0.0)
    second = DatabaseLock(engines[1], "test")
    try:
        assert first.hold()
        assert first._connection is not None
        pid = first._connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        dsn = make_url(postgres_url).set(drivername="postgresql")
        with psycopg.connect(dsn.render_as_string(hide_password=False), autocommit=True) as db:
            db.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        assert second.hold()
        assert not first.hold()
    finally:
        first.release()
        second.release()
        for engine in engines:
            engine.dispose()


@pytest.mark.postgres
def test_a_process_that_did_not_get_the_lock_keeps_no_connection_out_of_its_pool(
    postgres_url: str,
) -> None:
    holder_engine, waiter_engine = make_engine(postgres_url), make_engine(postgres_url)
    holder, waiter = DatabaseLock(holder_engine, "test"), DatabaseLock(waiter_engine, "test")
    try:
        assert holder.hold()
        assert not waiter.hold()
        assert waiter_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        holder.release()
        assert waiter.hold()
        # now it holds the lock, on the connection it keeps for it
        assert waiter_engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    finally:
        holder.release()
        waiter.release()
        holder_engine.dispose()
        waiter_engine.dispose()
