"""Read-only connections: statements only, and on PostgreSQL no transaction to open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, text

from openem.db.engine import make_engine
from openem.db.session import make_session_factory, read_only


def test_a_read_only_connection_reads(engine: Engine) -> None:
    with read_only(make_session_factory(engine)) as connection:
        assert connection.execute(text("SELECT 1 + 1")).scalar_one() == 2


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.mark.postgres
def test_on_postgresql_reads_run_without_begin_and_the_pool_gets_its_connection_back_as_it_was(
    postgres_engine: Engine,
) -> None:
    engine = postgres_engine  # one pooled connection: the second block reuses it
    sessions = make_session_factory(engine)
    with read_only(sessions) as connection:
        connection.execute(text("SELECT 1")).scalar_one()
        driver = connection.connection.dbapi_connection
        assert driver is not None
        assert driver.info.transaction_status == TransactionStatus.IDLE  # type: ignore[attr-defined]
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        driver = connection.connection.dbapi_connection
        assert driver is not None
        assert driver.info.transaction_status == TransactionStatus.INTRANS  # type: ignore[attr-defined]
