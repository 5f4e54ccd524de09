"""Per-key sliding-window rate limits (login, device pairing), with an injectable clock.

In-process: each API worker keeps its own counts, so with N workers a client gets
up to N times the limit. The per-account lockout on login is stored in the
database and holds across workers; this limiter is the cheap first line.

Usage in a route::

    PAIRING_LIMIT = RateLimiter(limit=5, period=timedelta(minutes=1))

    @router.post("/device/v1/pairing", dependencies=[Depends(rate_limited(PAIRING_LIMIT))])

or directly: ``PAIRING_LIMIT.hit(key, now=now)`` raises :class:`RateLimited` (429).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from math import ceil

from fastapi import Request

from openem.db.base import utcnow
from openem.errors import DomainError

MAX_KEYS = 100_000


class RateLimited(DomainError):
    status = 429
    title = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many attempts; try again in {retry_after} s")
        self.retry_after = retry_after


class RateLimiter:
    def __init__(self, *, limit: int, period: timedelta) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.period = period
        self._hits: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, now: datetime) -> None:
        """Count one attempt for ``key``; raise ``RateLimited`` if over the limit."""
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.period:
                hits.popleft()
            if len(hits) >= self.limit:
                wait = (hits[0] + self.period - now).total_seconds()
                raise RateLimited(max(1, ceil(wait)))
            hits.append(now)
            if len(self._hits) > MAX_KEYS:
                self._forget_idle(now)

    def check(self, key: str, *, now: datetime) -> None:
        """Raise ``RateLimited`` if ``key`` is over the limit, without counting an attempt
        (for limits on failures only: ``check`` first, ``hit`` when the attempt fails)."""
        with self._lock:
            hits = self._hits.get(key)
            while hits and hits[0] <= now - self.period:
                hits.popleft()
            if hits is not None and len(hits) >= self.limit:
                raise RateLimited(max(1, ceil((hits[0] + self.period - now).total_seconds())))

    def reset(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._hits.clear()
            else:
                self._hits.pop(key, None)

    def _forget_idle(self, now: datetime) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.period]:
            del self._hits[key]


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def rate_limited(
    limiter: RateLimiter | Callable[[Request], RateLimiter],
    *,
    key: Callable[[Request], str] = client_key,
) -> Callable[[Request], None]:
    """A route dependency counting one hit per request under ``key(request)``."""

    def dependency(request: Request) -> None:
        chosen = limiter if isinstance(limiter, RateLimiter) else limiter(request)
        chosen.hit(key(request), now=utcnow())

    return dependency
