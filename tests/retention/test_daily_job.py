"""The daily job runs in exactly one place, purges, escalates, forgets stale rate-limit
counts, and drains the bus purges."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openem.access.principal import SYSTEM
from openem.bus.memory import MemoryBus
from openem.config import Settings
from openem.http.ratelimit import FORGET_AFTER, RateLimiter, RateLimitHit
from openem.retention import tasks
from openem.retention.models import DeletionCertificate
from openem.subjects.models import ReviewEscalation, Subject
from tests.retention.conftest import LONG_AGO, NOW, enrol, relay_then_queue_more
from tests.support import factories


def test_only_one_process_takes_the_daily_lease(sessions: sessionmaker[Session]) -> None:
    every = timedelta(days=1)
    take = tasks.take_lease
    assert take(sessions, name="job", holder="a", now=NOW, every=every)
    assert not take(sessions, name="job", holder="b", now=NOW + timedelta(hours=1), every=every)
    assert not take(sessions, name="job", holder="a", now=NOW + timedelta(hours=23), every=every)
    assert take(sessions, name="job", holder="b", now=NOW + timedelta(days=1), every=every)


def test_daily_job_purges_escalates_forgets_stale_counts_and_the_loop_drains_the_bus(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    from openem.crypto.envelope import generate_keyring

    bus = MemoryBus()
    due = enrol(
        sessions,
        ends_at=LONG_AGO + timedelta(days=30),
        keyring=generate_keyring(),
        data_dir=tmp_path,
    )
    relay_then_queue_more(sessions, bus, [due])
    with sessions() as session, session.begin():
        subject = factories.subject(session)
        factories.order(
            session,
            subject.id,
            ends_at=(NOW + timedelta(days=30)).isoformat(),
            next_review_on=(NOW.date() - timedelta(days=1)).isoformat(),
        )
    settings = Settings(database_url=database_url, data_dir=tmp_path, key_file=tmp_path / "k")
    stale = RateLimiter(sessions, name="login", limit=5, period=timedelta(minutes=1))
    stale.hit("198.51.100.7", now=NOW - FORGET_AFTER - timedelta(seconds=1))
    tasks.daily(sessions, settings=settings, now=NOW)
    asyncio.run(tasks.purge.drain_bus_purges(sessions, bus))
    with sessions() as session:
        assert not session.scalar(select(func.count()).select_from(RateLimitHit))
        assert session.get(Subject, due.subject_id) is None
        assert session.scalar(select(func.count()).select_from(DeletionCertificate))
        assert session.scalar(select(func.count()).select_from(ReviewEscalation)) == 1
    assert not [m for m in bus.log if m.data]


def test_cli_purge_refuses_a_held_subject(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path, monkeypatch: object
) -> None:
    from openem import cli
    from openem.config import get_settings
    from openem.retention import holds

    with sessions() as session, session.begin():
        subject = factories.subject(session)
        holds.place_hold(
            session,
            principal=SYSTEM,
            subject_id=subject.id,
            reason="court order",
            expires_at=NOW + timedelta(days=3650),
            now=NOW - timedelta(days=1),
        )
    env = {"OPENEM_DATABASE_URL": database_url, "OPENEM_DATA_DIR": str(tmp_path)}
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli.app, ["purge", "--subject", str(subject.id)], env=env)
        listed = CliRunner().invoke(cli.app, ["purge"], env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "legal hold" in result.output
    assert listed.exit_code == 0, listed.output
    with sessions() as session:
        assert session.get(Subject, subject.id) is not None
