"""Rate limits are counted in the database: every API process sees the same counts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from openem.crypto.digests import sha256_hex
from openem.db.session import make_session_factory
from openem.http.ratelimit import FORGET_AFTER, RateLimited, RateLimiter, RateLimitHit

START = datetime(2026, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def _limiter(sessions: sessionmaker[Session], name: str = "pairing") -> RateLimiter:
    return RateLimiter(sessions, name=name, limit=2, period=MINUTE)


def _stored(sessions: sessionmaker[Session]) -> list[RateLimitHit]:
    with sessions() as session:
        return list(session.scalars(select(RateLimitHit).order_by(RateLimitHit.at)))


def test_a_client_over_the_limit_is_refused_until_its_oldest_attempt_leaves_the_window(
    sessions: sessionmaker[Session],
) -> None:
    limiter = _limiter(sessions)
    limiter.hit("198.51.100.7", now=START)
    limiter.hit("198.51.100.7", now=START + timedelta(seconds=10))
    with pytest.raises(RateLimited) as refused:
        limiter.hit("198.51.100.7", now=START + timedelta(seconds=20))
    assert refused.value.retry_after == 40
    limiter.hit("198.51.100.8", now=START + timedelta(seconds=20))  # another client
    limiter.hit("198.51.100.7", now=START + timedelta(seconds=61))
    assert len(_stored(sessions)) == 4  # the refused attempt was not counted


def test_limiters_with_different_names_count_apart(sessions: sessionmaker[Session]) -> None:
    pairing, login = _limiter(sessions, "pairing"), _limiter(sessions, "login")
    for limiter in (pairing, login):
        limiter.hit("198.51.100.7", now=START)
        limiter.hit("198.51.100.7", now=START)
    with pytest.raises(RateLimited):
        login.hit("198.51.100.7", now=START)


def test_check_counts_nothing_and_record_counts_without_refusing(
    sessions: sessionmaker[Session],
) -> None:
    limiter = _limiter(sessions)
    for _ in range(5):
        limiter.check("198.51.100.7", now=START)
    for _ in range(3):
        limiter.record("198.51.100.7", now=START)  # failures, each let through by check
    with pytest.raises(RateLimited):
        limiter.check("198.51.100.7", now=START)
    assert len(_stored(sessions)) == 3


def test_attempts_counted_in_one_process_are_counted_in_another(
    sessions: sessionmaker[Session], other_engine: Engine
) -> None:
    here, there = _limiter(sessions), _limiter(make_session_factory(other_engine))
    here.hit("198.51.100.7", now=START)
    there.hit("198.51.100.7", now=START + timedelta(seconds=1))
    with pytest.raises(RateLimited):
        here.check("198.51.100.7", now=START + timedelta(seconds=2))
    with pytest.raises(RateLimited):
        there.hit("198.51.100.7", now=START + timedelta(seconds=2))


def test_checking_a_limit_neither_waits_for_a_writer_nor_sees_its_uncommitted_attempts(
    sessions: sessionmaker[Session],
) -> None:
    limiter = RateLimiter(sessions, name="pairing", limit=1, period=MINUTE)
    outcome: list[BaseException | None] = []

    def check() -> None:
        try:
            limiter.check("198.51.100.7", now=START)
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    with sessions() as writer, writer.begin():  # holds SQLite's one write lock
        writer.add(RateLimitHit(limiter="pairing", key_digest=sha256_hex("198.51.100.7"), at=START))
        writer.flush()
        checking = threading.Thread(target=check)
        checking.start()
        checking.join(timeout=5)
        assert not checking.is_alive(), "check waited for the writer"
    assert outcome == [None]


def test_the_client_address_is_stored_only_as_its_digest(
    sessions: sessionmaker[Session],
) -> None:
    _limiter(sessions).hit("198.51.100.7", now=START)
    (stored,) = _stored(sessions)
    assert "198.51.100.7" not in stored.key_digest and len(stored.key_digest) == 64


def test_counting_an_attempt_forgets_attempts_older_than_forget_after(
    sessions: sessionmaker[Session],
) -> None:
    _limiter(sessions, "login").hit("198.51.100.7", now=START)
    _limiter(sessions, "pairing").hit("198.51.100.7", now=START + FORGET_AFTER)
    assert [hit.limiter for hit in _stored(sessions)] == ["login", "pairing"]
    _limiter(sessions, "pairing").record("198.51.100.8", now=START + FORGET_AFTER * 2)
    assert [hit.limiter for hit in _stored(sessions)] == ["pairing", "pairing"]


@pytest.mark.parametrize(
    ("limit", "period", "message"),
    [
        (0, MINUTE, "limit must be at least 1"),
        (1, timedelta(0), "period must be positive"),
        (1, FORGET_AFTER + MINUTE, "period must be positive"),
    ],
)
def test_a_limiter_refuses_a_limit_or_period_it_cannot_keep(
    sessions: sessionmaker[Session], limit: int, period: timedelta, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RateLimiter(sessions, name="pairing", limit=limit, period=period)
