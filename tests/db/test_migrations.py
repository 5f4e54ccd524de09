"""Migrations upgrade and downgrade cleanly and agree with the models, on both databases."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from openem.db import migrate
from openem.db.engine import make_engine
from openem.db.registry import Base
from tests.conftest import IN_CI, POSTGRES_URL

# Named after the test database, so engineers sharing a server do not drop each other's.
MIGRATION_DB = f"{make_url(POSTGRES_URL).database}_migrations"


def _fresh_postgres() -> str:
    url = make_url(POSTGRES_URL).set(database=MIGRATION_DB)
    admin = make_url(POSTGRES_URL).set(drivername="postgresql", database="postgres")
    try:
        with psycopg.connect(
            admin.render_as_string(hide_password=False), autocommit=True, connect_timeout=3
        ) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{MIGRATION_DB}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{MIGRATION_DB}"')
    except psycopg.Error as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {error}")
        pytest.skip("PostgreSQL not reachable; migration test on PostgreSQL skipped")
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrations.db'}"
    return _fresh_postgres()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"spatial_ref_sys"}
    finally:
        engine.dispose()


def test_upgrade_creates_every_table_and_downgrade_removes_them(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    assert _tables(empty_database) >= {table.name for table in Base.metadata.sorted_tables}
    migrate.downgrade(empty_database, "base")
    assert _tables(empty_database) == {"alembic_version"}
    migrate.upgrade(empty_database)
    assert {table.name for table in Base.metadata.sorted_tables} <= _tables(empty_database)


def test_models_and_migrations_agree(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    engine = make_engine(empty_database)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            differences = [
                d
                for d in compare_metadata(context, Base.metadata)
                if not (isinstance(d, tuple) and "spatial_ref_sys" in str(d))
            ]
    finally:
        engine.dispose()
    assert differences == []
