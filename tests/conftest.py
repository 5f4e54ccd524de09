"""Fixtures shared by every test: both databases, an app bound to them, principals."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from openem.app import create_app
from openem.config import Settings
from openem.db import migrate
from openem.db.engine import make_engine
from openem.db.registry import Base
from openem.db.session import make_session_factory
from tests.support.server import SeededDemo, seed_demo


def _worker_database(url: str) -> str:
    """One database per pytest-xdist worker (``openem_test_gw0``, ...): each worker empties
    and migrates its own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(
        hide_password=False
    )


POSTGRES_URL = _worker_database(os.environ.get(
    "OPENEM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/openem_test"
))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _postgres_admin_dsn(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), str(parsed.database)


def _ensure_postgres_database(url: str) -> None:
    dsn, name = _postgres_admin_dsn(url)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
    target = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(target, autocommit=True, connect_timeout=3) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS postgis")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    try:
        _ensure_postgres_database(POSTGRES_URL)
    except psycopg.Error as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and could not be reached: {error}")
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432; its half of the tests is skipped")
    migrate.downgrade(POSTGRES_URL, "base")
    migrate.upgrade(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def postgres_cleaner(postgres_url: str) -> Iterator[Engine]:
    """One engine for emptying the database after each PostgreSQL test."""
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "openem.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


_OWNED_SEQUENCES_IN_USE = text(
    """
    SELECT DISTINCT format('%I.%I', s.schemaname, s.sequencename)
    FROM pg_sequences AS s
    JOIN pg_class AS sequence_class ON sequence_class.relname = s.sequencename
    JOIN pg_namespace AS n ON n.oid = sequence_class.relnamespace AND n.nspname = s.schemaname
    JOIN pg_depend AS d ON d.objid = sequence_class.oid AND d.deptype IN ('a', 'i')
    JOIN pg_class AS owner ON owner.oid = d.refobjid
    WHERE s.schemaname = current_schema() AND s.last_value IS NOT NULL
      AND owner.relname = ANY(:tables)
    """
)


def empty_postgres(engine: Engine) -> None:
    """Leave every table empty and every owned sequence restarted, as a fresh migration does.

    Equivalent to ``TRUNCATE <all tables> RESTART IDENTITY CASCADE``, but that costs about
    a second per test (45 tables get new files, fsynced at commit) while a test writes to
    a handful. So: find the tables holding rows, DELETE from those (children first), and
    restart only the sequences that were used. The audit log's append-only trigger lets
    a DELETE through when ``openem.audit_truncation`` is on, as the retention purge does.
    """
    tables = Base.metadata.sorted_tables
    names = [table.name for table in tables]
    with engine.begin() as connection:
        holding_rows = set(
            connection.scalars(
                text(
                    " UNION ALL ".join(
                        f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM \"{name}\")"
                        for name in names
                    )
                )
            )
        )
        if holding_rows:
            connection.execute(text("SET LOCAL openem.audit_truncation = 'on'"))
        for table in reversed(tables):
            if table.name in holding_rows:
                connection.execute(text(f'DELETE FROM "{table.name}"'))
        for sequence in connection.scalars(_OWNED_SEQUENCES_IN_USE, {"tables": names}):
            connection.execute(text(f"ALTER SEQUENCE {sequence} RESTART"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that needs the database runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "openem.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    cleaner = request.getfixturevalue("postgres_cleaner")
    yield url
    empty_postgres(cleaner)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def other_engine(engine: Engine) -> Iterator[Engine]:
    """A second engine on the test's database, as another API process would have."""
    other = make_engine(engine.url.render_as_string(hide_password=False))
    yield other
    other.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work tests commit explicitly, like a request or job would."""
    with sessions() as session:
        yield session


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return app_settings(database_url, tmp_path)


def app_settings(database_url: str, data_dir: Path) -> Settings:
    """The app's settings in tests: the given database, an in-memory bus, no timers."""
    return Settings(
        database_url=database_url,
        bus_url="memory://",
        data_dir=data_dir,
        key_file=data_dir / "master.key",
        purge_schedule=False,  # tests drive the daily job directly (tests/retention)
        checkin_scheduler=False,  # tests drive the check-in task directly (tests/checkins)
        # Check-in flows, not accuracy: enrol without jitter (about 1 s less per photo);
        # tests/biometrics and the evaluation enrol as the service does by default.
        face_enrolment_jitters=0,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def staff_tokens(sessions: sessionmaker[Session]) -> dict[str, str]:
    """A committed user and API token for every role: role -> bearer token.

    Also records approved impact assessments for every cohort, so the staff can
    create orders (the assessment gate itself is tested in tests/subjects).
    """
    from openem.access.models import Role
    from tests.support import factories

    tokens = {}
    with sessions() as session, session.begin():
        org = factories.organisation(session)
        factories.assessments(session)
        for role in Role:
            tokens[role.value] = factories.token_for(
                session, factories.user(session, role, org=org)
            )
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Tests keep argon2id but at the lowest cost, so a hundred accounts take no time."""
    from argon2 import PasswordHasher

    from openem.access import passwords

    production = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = production


@pytest.fixture(scope="session")
def seeded_demo(tmp_path_factory: pytest.TempPathFactory) -> SeededDemo:
    """`openem demo --no-serve --subjects 3`, run once; tests that serve it work on a copy."""
    return seed_demo(tmp_path_factory.mktemp("seeded-demo"))
