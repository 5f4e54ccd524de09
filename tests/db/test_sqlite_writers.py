"""SQLite writers queue on the database's writer lock instead of sleeping and retrying."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from openem.db.engine import make_engine
from openem.db.session import make_session_factory, read_only


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'writers.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        connection.execute(text("INSERT INTO counter VALUES (0)"))
    return engine


def _increment(engine: Engine, times: int, errors: list[BaseException]) -> None:
    try:
        for _ in range(times):
            with engine.begin() as connection:
                n = connection.execute(text("SELECT n FROM counter")).scalar_one()
                connection.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
    except BaseException as error:  # reported to the test thread
        errors.append(error)


def test_concurrent_writers_all_commit_and_none_is_lost(engine: Engine) -> None:
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_increment, args=(engine, 50, errors)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    with engine.connect() as connection:
        assert connection.execute(text("SELECT n FROM counter")).scalar_one() == 200
    engine.dispose()


def test_a_failed_transaction_releases_the_writer_lock(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as connection:
        connection.execute(text("UPDATE counter SET n = 5"))
        raise RuntimeError("abandon")
    errors: list[BaseException] = []
    other = threading.Thread(target=_increment, args=(engine, 1, errors))
    other.start()
    other.join(timeout=10)
    assert not other.is_alive() and not errors
    with engine.connect() as connection:
        assert connection.execute(text("SELECT n FROM counter")).scalar_one() == 1
    engine.dispose()


def test_the_lock_file_sits_beside_the_database(engine: Engine, tmp_path: Path) -> None:
    assert (tmp_path / "writers.db-writer.lock").exists()
    engine.dispose()


def test_a_writer_waiting_on_itself_gets_a_busy_error_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("openem.db.engine.SQLITE_BUSY_TIMEOUT_MS", 200)
    engine = make_engine(f"sqlite:///{tmp_path / 'self.db'}")
    started = time.monotonic()
    with engine.begin() as holder:
        holder.execute(text("CREATE TABLE t (x INTEGER)"))
        with pytest.raises((OperationalError, sqlite3.OperationalError), match="locked"), \
                engine.begin() as waiter:
            waiter.execute(text("INSERT INTO t VALUES (1)"))
    assert time.monotonic() - started < 5
    engine.dispose()


def test_a_read_only_transaction_reads_while_a_writer_holds_the_lock(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with engine.begin() as writer:
        writer.execute(text("UPDATE counter SET n = 7"))
        started = time.monotonic()
        with read_only(sessions) as reader:
            # It sees the last committed state, without waiting for the writer.
            assert reader.execute(text("SELECT n FROM counter")).scalar_one() == 0
        assert time.monotonic() - started < 1
    with read_only(sessions) as reader:
        assert reader.execute(text("SELECT n FROM counter")).scalar_one() == 7
    engine.dispose()


def test_none_and_bytes_are_stored_as_null_and_blob(engine: Engine) -> None:
    """The engine module registers pass-through adapters for None and bytes (a faster
    bind); they must store exactly what the driver stores without them."""
    assert sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)](None) is None
    payload = b"\x00binary\xff"
    assert sqlite3.adapters[(bytes, sqlite3.PrepareProtocol)](payload) is payload
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE kept (a, b)"))
        connection.exec_driver_sql("INSERT INTO kept VALUES (?, ?)", [(None, payload)] * 2)
        stored = connection.execute(text("SELECT a, typeof(a), b, typeof(b) FROM kept")).all()
    assert [tuple(row) for row in stored] == [(None, "null", payload, "blob")] * 2
