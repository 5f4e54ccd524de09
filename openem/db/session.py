"""Sessions: one transaction per request or job, owned by the caller, not by services.

Work that must survive the caller's transaction rolling back (the audit entry
for a refused request) is deferred with :func:`defer` and run, each in its own
transaction, once the caller's transaction has ended either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from openem.db.engine import READ_ONLY
from openem.logs import get_logger

DEFERRED_KEY = "openem.deferred"
log = get_logger(__name__)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def defer(session: Session, work: Callable[[Session], None]) -> None:
    """Run ``work(session)`` in a transaction of its own after the current one ends."""
    session.info.setdefault(DEFERRED_KEY, []).append(work)


def run_deferred(session: Session) -> None:
    if session.in_transaction():
        session.rollback()
    work_list: list[Callable[[Session], None]] = session.info.pop(DEFERRED_KEY, [])
    for work in work_list:
        try:
            with session.begin():
                work(session)
        except Exception as error:  # never mask the caller's own outcome
            log.error("deferred_work_failed", error_type=type(error).__name__)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit on success, roll back on any error; then run deferred work."""
    with factory() as session:
        try:
            with session.begin():
                yield session
        finally:
            run_deferred(session)


@contextmanager
def read_only(factory: sessionmaker[Session]) -> Iterator[Connection]:
    """A connection for reads alone: on SQLite a deferred transaction, which does not wait
    for, or block, writers; on PostgreSQL autocommit. Writing in it is a bug (SQLite
    refuses a write that would need the lock while another writer holds it; PostgreSQL
    would commit it at once). It is a Core connection, not a session: statements only,
    no identity map to set up and tear down."""
    engine: Engine = factory.kw["bind"]
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Each statement on its own: no BEGIN and ROLLBACK round trips, and the
            # statements read here (keys, health rows, pending messages) need no
            # common snapshot.
            connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection
            return
        connection.execution_options(**{READ_ONLY: True})
        connection.begin()
        try:
            yield connection
        finally:
            connection.rollback()
