"""Migrations upgrade and downgrade cleanly and agree with the models, on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from openem.db import migrate
from openem.db.engine import make_engine
from openem.db.registry import Base
from openem.devices.models import Device, InboxItem
from tests.conftest import IN_CI, POSTGRES_URL
from tests.support import factories

# Named after the test database, so parallel checkouts using their own test database
# (OPENEM_TEST_POSTGRES_URL) do not drop each other's migration database.
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


def _device_as_before_0012(session: Session, order_id: uuid.UUID | None = None) -> uuid.UUID:
    """A device row written without the model, whose columns are a later revision's."""
    device_id = uuid.uuid4()
    on_sqlite = session.get_bind().dialect.name == "sqlite"
    session.execute(
        text("INSERT INTO devices (id, kind, serial, state, order_id, created_at, updated_at) "
             "VALUES (:id, 'smartwatch', :serial, 'assigned', :order_id, :now, :now)"),
        {"id": device_id.hex if on_sqlite else device_id,
         "serial": f"MIGRATE-{device_id.hex[:8]}",
         "order_id": order_id.hex if on_sqlite and order_id else order_id,
         "now": datetime.now(UTC)},
    )
    return device_id


def _assignment_as_before_0013(
    session: Session, *, device_id: uuid.UUID, order_id: uuid.UUID, subject_id: uuid.UUID,
    assigned_at: datetime, unassigned_at: datetime | None,
) -> None:
    """An assignment row written without the model, whose columns are a later revision's."""
    ids = {"id": uuid.uuid4(), "device": device_id, "order": order_id, "subject": subject_id}
    on_sqlite = session.get_bind().dialect.name == "sqlite"
    values: dict[str, object] = {name: i.hex if on_sqlite else i for name, i in ids.items()}
    session.execute(
        text("INSERT INTO device_assignments (id, device_id, order_id, subject_id, assigned_at,"
             " unassigned_at) VALUES (:id, :device, :order, :subject, :assigned, :unassigned)"),
        {**values, "assigned": assigned_at, "unassigned": unassigned_at},
    )


def test_inbox_items_from_before_0009_are_attributed_to_whom_the_device_then_served(
    empty_database: str,
) -> None:
    migrate.upgrade(empty_database, "0008")
    engine = make_engine(empty_database)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        with Session(engine) as session, session.begin():
            first, second = factories.subject(session), factories.subject(session)
            device_id = _device_as_before_0012(session)
            for subject, start, end in ((first, 0, 10), (second, 20, None)):
                order = factories.order(session, subject.id)
                _assignment_as_before_0013(
                    session, device_id=device_id, order_id=order.id, subject_id=subject.id,
                    assigned_at=t0 + timedelta(days=start),
                    unassigned_at=None if end is None else t0 + timedelta(days=end),
                )
            subjects = (first.id, second.id)
        with engine.begin() as connection:
            for day in (5, 15, 25):
                connection.execute(
                    text("INSERT INTO device_inbox (device_id, kind, payload, created_at) "
                         "VALUES (:device, 'message', '{}', :at)"),
                    {"device": device_id if engine.dialect.name == "postgresql" else device_id.hex,
                     "at": t0 + timedelta(days=day)},
                )
        migrate.upgrade(empty_database)
        with Session(engine) as session:
            owners = session.scalars(select(InboxItem.subject_id).order_by(InboxItem.created_at))
            assert list(owners) == [subjects[0], None, subjects[1]]
    finally:
        engine.dispose()


def test_a_device_serving_an_order_before_0012_keeps_when_its_assignment_began(
    empty_database: str,
) -> None:
    migrate.upgrade(empty_database, "0011")
    engine = make_engine(empty_database)
    began = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    try:
        with Session(engine) as session, session.begin():
            subject = factories.subject(session)
            order = factories.order(session, subject.id)
            serving = _device_as_before_0012(session, order.id)
            returned = _device_as_before_0012(session)
            for device_id, start, end in ((serving, began - timedelta(days=30), began),
                                          (serving, began, None),
                                          (returned, began, began + timedelta(days=1))):
                _assignment_as_before_0013(session, device_id=device_id, order_id=order.id,
                                           subject_id=subject.id, assigned_at=start,
                                           unassigned_at=end)
        migrate.upgrade(empty_database)
        with Session(engine) as session:
            assert session.get(Device, serving).serving_since == began  # type: ignore[union-attr]
            assert session.get(Device, returned).serving_since == began + timedelta(days=1)  # type: ignore[union-attr]
    finally:
        engine.dispose()
