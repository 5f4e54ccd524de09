"""Per-client sliding-window rate limits (login, device pairing), counted in the database.

Every API process reads and writes the same counts, so a client gets the limit however
many processes serve it (counted in one process each, N processes would allow N times
the limit). Attempts made at the same instant that each find the count one short may
all be let through.

A counted attempt is a row of ``rate_limit_hits``: the limiter's name, the SHA-256 of
the client's key (an address is not stored as it came) and the time. Rows older than
:data:`FORGET_AFTER` are deleted whenever an attempt is counted, and by the daily
retention job.

Usage in a route::

    limiter = RateLimiter(sessions, name="pairing", limit=5, period=timedelta(minutes=1))
    limiter.hit(client_key(request), now=utcnow())  # raises RateLimited (429)

or, to count failures only, :meth:`RateLimiter.check` before the attempt and
:meth:`RateLimiter.record` when it fails.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from math import ceil

from fastapi import Request
from sqlalchemy import BigInteger, Connection, Index, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from openem.crypto.digests import sha256_hex
from openem.db.base import Base
from openem.db.session import read_only
from openem.errors import DomainError

# Longer than any limiter's period: a row this old counts for none of them.
FORGET_AFTER = timedelta(hours=1)


class RateLimitHit(Base):
    __tablename__ = "rate_limit_hits"
    __table_args__ = (
        Index("ix_rate_limit_hits_limiter_key_digest_at", "limiter", "key_digest", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    limiter: Mapped[str] = mapped_column(String(32))
    key_digest: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)


class RateLimited(DomainError):
    status = 429
    title = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many attempts; try again in {retry_after} s")
        self.retry_after = retry_after


class RateLimiter:
    """At most ``limit`` counted attempts per client key in any ``period``."""

    def __init__(
        self, sessions: sessionmaker[Session], *, name: str, limit: int, period: timedelta
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if not timedelta(0) < period <= FORGET_AFTER:
            raise ValueError(f"period must be positive and at most {FORGET_AFTER}")
        self._sessions = sessions
        self.name, self.limit, self.period = name, limit, period

    def hit(self, key: str, *, now: datetime) -> None:
        """Count one attempt for ``key``; raise :class:`RateLimited` (and count nothing)
        if ``key`` is at the limit already."""
        digest = sha256_hex(key)
        with self._sessions() as session, session.begin():
            self._refuse_if_over(session, digest, now)
            self._record(session, digest, now)

    def check(self, key: str, *, now: datetime) -> None:
        """Raise :class:`RateLimited` if ``key`` is at the limit, counting nothing (a read:
        on SQLite it neither waits for nor blocks the writer)."""
        with read_only(self._sessions) as connection:
            self._refuse_if_over(connection, sha256_hex(key), now)

    def record(self, key: str, *, now: datetime) -> None:
        """Count one attempt for ``key`` (a failure, after :meth:`check` let it try)."""
        with self._sessions() as session, session.begin():
            self._record(session, sha256_hex(key), now)

    def _refuse_if_over(self, session: Session | Connection, digest: str, now: datetime) -> None:
        recent = session.scalars(
            select(RateLimitHit.at)
            .where(
                RateLimitHit.limiter == self.name,
                RateLimitHit.key_digest == digest,
                RateLimitHit.at > now - self.period,
            )
            .order_by(RateLimitHit.at.desc())
            .limit(self.limit)
        ).all()
        if len(recent) >= self.limit:
            # The attempt that leaves the window next is the oldest of the last ``limit``.
            wait = (recent[-1] + self.period - now).total_seconds()
            raise RateLimited(max(1, ceil(wait)))

    def _record(self, session: Session, digest: str, now: datetime) -> None:
        session.add(RateLimitHit(limiter=self.name, key_digest=digest, at=now))
        forget_before(session, now - FORGET_AFTER)


def forget_before(session: Session, cutoff: datetime) -> int:
    """Delete the counted attempts made before ``cutoff``; how many there were."""
    deleted = session.execute(delete(RateLimitHit).where(RateLimitHit.at < cutoff))
    return int(deleted.rowcount)  # type: ignore[attr-defined]


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"
