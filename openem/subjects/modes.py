"""Monitoring modes at ingest: what an order allows to be stored, decided before storage.

No fix taken before the order's start or once it has ended is kept, whatever the mode.

``full_trail`` keeps every fix; ``curfew_only`` keeps fixes only while a curfew
is in force; ``checkin_only`` keeps no telemetry fixes at all (the location is
kept with each check-in, by the check-in domain).

Curfew hook: whether a curfew is in force is answered by a
:class:`CurfewCheck`. The default reads the order's own ``curfew_start`` /
``curfew_end`` (local times in the subject's time zone; an overnight window
such as 19:00-07:00 is allowed). The zones domain replaces it with one call::

    from openem.subjects.modes import set_curfew_check
    set_curfew_check(zones_curfew_active)   # (session, *, order, at) -> bool
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from openem.subjects.models import MonitoringMode, Order, Subject

DROPPED_BY_MODE = "not_kept_under_monitoring_mode"
ORDER_ENDED = "order_ended"
ORDER_NOT_STARTED = "order_not_started"


class CurfewCheck(Protocol):
    def __call__(self, session: Session, *, order: Order, at: datetime) -> bool: ...


def order_curfew_active(session: Session, *, order: Order, at: datetime) -> bool:
    """Default: the order's own curfew hours, in the subject's local time."""
    if order.curfew_start is None or order.curfew_end is None:
        return False
    subject = session.get(Subject, order.subject_id)
    zone = ZoneInfo(subject.timezone if subject else "Europe/London")
    local = at.astimezone(zone).time()
    start, end = order.curfew_start, order.curfew_end
    if start <= end:
        return start <= local < end
    return local >= start or local < end


_curfew_check: CurfewCheck = order_curfew_active


def set_curfew_check(check: CurfewCheck) -> None:
    global _curfew_check
    _curfew_check = check


def curfew_check() -> CurfewCheck:
    return _curfew_check


def keeps_fix(session: Session, *, order: Order | None, at: datetime) -> bool:
    """Whether the order's mode lets a telemetry fix taken at ``at`` be stored."""
    if order is None or order.monitoring_mode == MonitoringMode.full_trail:
        return True
    if order.monitoring_mode == MonitoringMode.curfew_only:
        return _curfew_check(session, order=order, at=at)
    return False


def why_dropped(session: Session, *, order: Order | None, at: datetime) -> str | None:
    """Why a telemetry fix taken at ``at`` may not be stored under ``order``: taken before
    it started or once it had ended, or outside what its mode keeps; None when it is kept."""
    if order is not None and at < order.starts_at:
        return ORDER_NOT_STARTED
    if order is not None and at >= order.ends_at:
        return ORDER_ENDED
    return None if keeps_fix(session, order=order, at=at) else DROPPED_BY_MODE
