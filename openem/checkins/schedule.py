"""Drawing a day's prompt times: random, inside the waking window, spaced, reproducible.

Pure functions, no database. ``prompt_times(seed, order_id, day, params)`` always returns
the same instants for the same inputs, so an auditor holding the stored seed, the order
and the day can recompute why a prompt came when it did:

1. the day's random generator is seeded with HMAC-SHA256(seed, "<order_id>|<YYYY-MM-DD>");
2. the usable span runs from the window's start to its end minus the response window
   (a prompt's whole response window lies inside the waking window), in real (UTC) time,
   so a daylight-saving change shortens or lengthens it;
3. ``count`` offsets are drawn uniformly from the span less the spacing gaps, sorted, and
   the i-th gets ``i * spacing`` added: every arrangement with the minimum spacing is
   equally likely, and no two prompts are closer than the spacing.

``count`` is the order's ``checkins_per_day``, capped at ``MAX_PER_DAY`` and at what fits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_PER_DAY = 5
DEFAULT_WINDOW = (time(8, 0), time(21, 0))


@dataclass(frozen=True)
class ScheduleParams:
    """Everything a day's times depend on besides the seed, order and date."""

    count: int
    window_start: str  # local "HH:MM"
    window_end: str
    timezone: str
    spacing_minutes: int
    response_minutes: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def fingerprint(self) -> str:
        encoded = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(encoded).hexdigest()


def params_for(
    *,
    checkins_per_day: int,
    window_start: time | None,
    window_end: time | None,
    timezone: str,
    spacing_minutes: int,
    response_minutes: int,
) -> ScheduleParams:
    start, end = (window_start, window_end) if window_start and window_end else DEFAULT_WINDOW
    return ScheduleParams(
        count=max(0, min(checkins_per_day, MAX_PER_DAY)),
        window_start=start.strftime("%H:%M"),
        window_end=end.strftime("%H:%M"),
        timezone=timezone,
        spacing_minutes=spacing_minutes,
        response_minutes=response_minutes,
    )


def new_seed() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


def window_of(day: date, params: ScheduleParams) -> tuple[datetime, datetime]:
    """The waking window of a local day as UTC instants (an end before the start is the next
    day)."""
    zone = ZoneInfo(params.timezone)
    start = datetime.combine(day, time.fromisoformat(params.window_start), tzinfo=zone)
    end_day = day if params.window_end > params.window_start else day + timedelta(days=1)
    end = datetime.combine(end_day, time.fromisoformat(params.window_end), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _generator(seed: str, order_id: uuid.UUID, day: date) -> random.Random:
    message = f"{order_id}|{day.isoformat()}".encode()
    digest = hmac.new(bytes.fromhex(seed), message, hashlib.sha256).digest()
    return random.Random(int.from_bytes(digest, "big"))  # reproducible by design, not secret


def prompt_times(
    *, seed: str, order_id: uuid.UUID, day: date, params: ScheduleParams
) -> list[datetime]:
    """The day's prompt instants (UTC, whole seconds, ascending)."""
    start, end = window_of(day, params)
    spacing = params.spacing_minutes * 60
    span = int((end - start).total_seconds()) - params.response_minutes * 60
    if params.count <= 0 or span < 0:
        return []
    fits = span // spacing + 1 if spacing > 0 else params.count
    count = min(params.count, fits)
    slack = span - (count - 1) * spacing
    rng = _generator(seed, order_id, day)
    offsets = sorted(rng.randint(0, slack) for _ in range(count))
    return [start + timedelta(seconds=offset + i * spacing) for i, offset in enumerate(offsets)]
