"""Reading a subject's positions: purpose-bound, audited, never more than asked for."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.policy import EvidenceScope
from openem.access.principal import Principal
from openem.access.purposes import DataClass, Purpose
from openem.errors import Invalid
from openem.locations.models import Position
from openem.locations.quality import Fix
from openem.subjects.history import open_history

MAX_WINDOW = timedelta(days=31)
MAX_POSITIONS = 50_000


def positions_for_subject(
    session: Session,
    *,
    principal: Principal,
    subject_id: uuid.UUID,
    start: datetime,
    end: datetime,
    purpose: Purpose | None,
    purpose_detail: str | None,
    now: datetime,
    evidence_scope: EvidenceScope | None = None,
    include_flagged: bool = False,
) -> list[Position]:
    """The trail in [start, end), after ``open_history`` allowed (and audited) the read."""
    if end <= start:
        raise Invalid("'to' must be after 'from'", field="to")
    if end - start > MAX_WINDOW:
        raise Invalid("ask for at most 31 days at a time", field="to")
    access = open_history(session, principal=principal, subject_id=subject_id,
                          data_class=DataClass.location_history, purpose=purpose,
                          detail=purpose_detail, now=now, evidence_scope=evidence_scope)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if access.window is not None:
        start, end = max(start, access.window[0]), min(end, access.window[1])
    query = (
        select(Position)
        .where(
            Position.subject_id == subject_id, Position.fixed_at >= start, Position.fixed_at < end
        )
        .order_by(Position.fixed_at)
        .limit(MAX_POSITIONS)
    )
    if not include_flagged:
        query = query.where(Position.flags == "")
    positions = list(session.scalars(query))
    audit.record(
        session,
        principal=principal,
        action="positions.read",
        record_type="positions",
        record_id=f"{start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}",
        subject_id=subject_id,
        purpose=purpose,
        purpose_detail=purpose_detail,
    )
    return positions


def as_fixes(positions: list[Position]) -> list[Fix]:
    return [
        Fix(
            ts=p.fixed_at,
            lat=p.lat,
            lon=p.lon,
            accuracy_m=p.accuracy_m,
            altitude_m=p.altitude_m,
            speed_mps=p.speed_mps,
            heading_deg=p.heading_deg,
        )
        for p in positions
    ]


def positions_by_keys(
    session: Session, *, keys: list[tuple[uuid.UUID, int]]
) -> list[Position]:
    """Stored fixes by (device, seq), oldest first: how alerts point at their evidence."""
    if not keys:
        return []
    wanted = set(keys)
    devices = {device for device, _ in keys}
    seqs = {seq for _, seq in keys}
    query = select(Position).where(Position.device_id.in_(devices), Position.seq.in_(seqs))
    rows = [p for p in session.scalars(query) if (p.device_id, p.seq) in wanted]
    return sorted(rows, key=lambda p: (p.fixed_at, p.id))


def subject_positions_since(
    session: Session, *, subject_id: uuid.UUID, start: datetime, limit: int = MAX_POSITIONS
) -> list[Position]:
    """A subject's stored fixes from ``start`` in fix-time order (flagged ones included)."""
    query = (
        select(Position)
        .where(Position.subject_id == subject_id, Position.fixed_at >= start)
        .order_by(Position.fixed_at, Position.id)
        .limit(limit)
    )
    return list(session.scalars(query))
