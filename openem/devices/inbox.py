"""The device inbox: what the server has for a device, oldest first, acked by id."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openem.devices.models import Device, InboxItem

KINDS = frozenset({"config", "message", "prompt", "notice"})
DEFAULT_FIX_INTERVAL_S = 60
DEFAULT_UPLOAD_INTERVAL_S = 300


def post(
    session: Session, *, device_id: uuid.UUID, kind: str, payload: dict[str, Any], now: datetime
) -> InboxItem:
    if kind not in KINDS:
        raise ValueError(f"unknown inbox kind {kind!r}")
    device = session.get(Device, device_id)
    if device is None:
        raise ValueError("no such device")
    item = InboxItem(device_id=device_id, subject_id=device.subject_id, kind=kind,
                     payload=payload, created_at=now)
    session.add(item)
    session.flush()
    return item


def configure(
    session: Session,
    *,
    device_id: uuid.UUID,
    fix_interval_s: int,
    upload_interval_s: int,
    reason: str,
    now: datetime,
) -> InboxItem:
    return post(
        session,
        device_id=device_id,
        kind="config",
        now=now,
        payload={
            "fix_interval_s": fix_interval_s,
            "upload_interval_s": upload_interval_s,
            "reason": reason,
        },
    )


def pending(
    session: Session,
    *,
    device_id: uuid.UUID,
    subject_id: uuid.UUID | None,
    now: datetime,
    limit: int = 100,
) -> list[InboxItem]:
    """What the device has not acknowledged, oldest first; only what was for its current
    wearer (``subject_id``), so a re-used device never shows the last wearer's items."""
    items = list(
        session.scalars(
            select(InboxItem)
            .where(
                InboxItem.device_id == device_id,
                InboxItem.subject_id.is_not_distinct_from(subject_id),
                InboxItem.acked_at.is_(None),
                InboxItem.withdrawn_at.is_(None),
            )
            .order_by(InboxItem.id)
            .limit(limit)
        )
    )
    for item in items:
        if item.delivered_at is None:
            item.delivered_at = now
    return items


def acknowledge(session: Session, *, device_id: uuid.UUID, ids: list[int], now: datetime) -> int:
    result = session.execute(
        update(InboxItem)
        .where(
            InboxItem.device_id == device_id, InboxItem.id.in_(ids), InboxItem.acked_at.is_(None)
        )
        .values(acked_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def withdraw(session: Session, *, device_id: uuid.UUID, now: datetime) -> int:
    """The device leaves its order: what it has not acknowledged is never sent again."""
    result = session.execute(
        update(InboxItem)
        .where(
            InboxItem.device_id == device_id,
            InboxItem.acked_at.is_(None),
            InboxItem.withdrawn_at.is_(None),
        )
        .values(withdrawn_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
