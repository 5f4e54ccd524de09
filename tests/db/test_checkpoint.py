"""SQLite's write-ahead log is copied into the database file in the background, not by
the commits of writers holding the writer lock."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from openem.app import create_app
from openem.db import migrate
from openem.db.checkpoint import WRITER_CHECKPOINT_PAGES, WalCheckpointer, checkpoint
from openem.db.engine import READ_ONLY, make_engine, sqlite_file
from tests.conftest import app_settings


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[Path, Engine]]:
    path = tmp_path / "wal.db"
    engine = _new_database(path)
    yield path, engine
    engine.dispose()


def _new_database(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")  # in WAL mode from its first connection
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE fixes (n INTEGER NOT NULL)"))
    return engine


def _write(engine: Engine, rows: int) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO fixes VALUES (:n)"), [{"n": n} for n in range(rows)])


def _rows_in_database_file(path: Path, tmp_path: Path) -> int:
    """Rows found in the database file alone, without its write-ahead log."""
    copy = tmp_path / "file-only.db"
    shutil.copyfile(path, copy)
    with sqlite3.connect(copy) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE name = 'fixes'")
        if tables.fetchone() is None:
            return 0
        return int(connection.execute("SELECT count(*) FROM fixes").fetchone()[0])


def _rows_in_database_file_soon(path: Path, tmp_path: Path, rows: int) -> bool:
    """Whether the database file alone holds ``rows`` rows within ten seconds."""
    deadline = time.monotonic() + 10
    while _rows_in_database_file(path, tmp_path) < rows and time.monotonic() < deadline:
        time.sleep(0.02)
    return _rows_in_database_file(path, tmp_path) == rows


def test_writers_leave_the_log_to_the_checkpointer_until_it_is_large(
    database: tuple[Path, Engine], tmp_path: Path
) -> None:
    path, engine = database
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    assert pages == WRITER_CHECKPOINT_PAGES
    _write(engine, 500)  # a few pages: well under the writers' own threshold
    assert _rows_in_database_file(path, tmp_path) == 0


def test_a_checkpoint_copies_committed_writes_into_the_database_file(
    database: tuple[Path, Engine], tmp_path: Path
) -> None:
    path, engine = database
    _write(engine, 500)  # the engine's pooled connection stays open, and so the log
    checkpointer = sqlite3.connect(path)
    done = checkpoint(checkpointer)
    checkpointer.close()
    assert not done.busy and done.log_pages > 0
    assert done.checkpointed_pages == done.log_pages
    assert _rows_in_database_file(path, tmp_path) == 500


def test_the_background_checkpointer_copies_the_log_while_writers_go_on(
    database: tuple[Path, Engine], tmp_path: Path
) -> None:
    path, engine = database
    checkpointer = WalCheckpointer(str(path), interval_s=0.01)
    checkpointer.start()
    try:
        _write(engine, 500)
        assert _rows_in_database_file_soon(path, tmp_path, 500)
    finally:
        checkpointer.stop()


def test_only_a_sqlite_file_has_a_log_to_checkpoint(tmp_path: Path) -> None:
    assert sqlite_file(f"sqlite:///{tmp_path / 'a.db'}") == str(tmp_path / "a.db")
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("postgresql+psycopg://postgres@127.0.0.1/openem") is None


def test_the_application_checkpoints_its_sqlite_file_while_it_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate.upgrade(url)
    app = create_app(app_settings(url, tmp_path))
    with TestClient(app):
        checkpointer = app.state.wal_checkpointer
        assert isinstance(checkpointer, WalCheckpointer) and checkpointer.running
    assert not checkpointer.running


def test_the_checkpointer_waits_for_the_database_rather_than_create_it(tmp_path: Path) -> None:
    path = tmp_path / "later.db"
    checkpointer = WalCheckpointer(str(path), interval_s=0.01)
    checkpointer.start()
    try:
        time.sleep(0.1)
        assert not path.exists() and checkpointer.running
        engine = _new_database(path)
        _write(engine, 500)
        assert _rows_in_database_file_soon(path, tmp_path, 500)
        engine.dispose()
    finally:
        checkpointer.stop()


def test_a_checkpointer_that_opened_the_database_before_wal_mode_opens_it_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rollback-first.db"
    sqlite3.connect(path).close()  # the file exists, still in rollback-journal mode
    checkpointer = WalCheckpointer(str(path), interval_s=0.01)
    checkpointer.start()
    try:
        time.sleep(0.1)  # it has opened the file and found no log
        engine = _new_database(path)  # switches the file to WAL
        _write(engine, 500)
        assert _rows_in_database_file_soon(path, tmp_path, 500)
        engine.dispose()
    finally:
        checkpointer.stop()
