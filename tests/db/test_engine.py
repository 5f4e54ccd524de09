"""PostgreSQL engines test a pooled connection before handing it out only after it has
lain idle: a dead idle one is replaced unseen, one used a moment ago costs no round trip."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from openem.db.engine import make_engine

pytestmark = pytest.mark.postgres


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(postgres_url: str, pid: int) -> None:
    dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


@pytest.fixture
def one_connection(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    engine = make_engine(
        postgres_url, pool_size=1, max_overflow=0, ping_after_idle_s=request.param
    )
    yield engine
    engine.dispose()


@pytest.mark.parametrize("one_connection", [0.0], indirect=True)
def test_an_idle_connection_that_died_is_replaced_before_it_is_handed_out(
    one_connection: Engine, postgres_url: str
) -> None:
    first = _backend_pid(one_connection)
    _terminate(postgres_url, first)

    assert _backend_pid(one_connection) != first  # no error reached the caller


@pytest.mark.parametrize("one_connection", [60.0], indirect=True)
def test_a_connection_used_a_moment_ago_is_handed_out_untested_and_a_dead_one_fails_once(
    one_connection: Engine, postgres_url: str
) -> None:
    first = _backend_pid(one_connection)
    _terminate(postgres_url, first)

    with pytest.raises(DBAPIError) as failed:  # untested: its first statement finds it dead
        _backend_pid(one_connection)
    assert failed.value.connection_invalidated
    assert _backend_pid(one_connection) != first  # the pool has replaced it
