"""Whose an item is: the holder the device served when the item was taken, not when it arrived.

A device holds items it could not send (out of signal, switched off) and sends them when it
can, by which time it may have been taken off its order, or put on another. What it took
while on an earlier order is that order's subject's; what it took before its current
assignment and on no earlier one is nobody's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.devices.models import DeviceAssignment


@dataclass(frozen=True, slots=True)
class EarlierHolder:
    """A device as it was while on an earlier order, from ``serving_since`` to ``until``."""

    id: uuid.UUID
    subject_id: uuid.UUID
    order_id: uuid.UUID
    serving_since: datetime
    until: datetime

    def held(self, at: datetime) -> bool:
        return self.serving_since <= at < self.until


def earlier_holders(
    session: Session, device_ids: set[uuid.UUID]
) -> dict[uuid.UUID, list[EarlierHolder]]:
    """Each device's ended assignments."""
    if not device_ids:
        return {}
    rows = session.execute(
        select(DeviceAssignment.device_id, DeviceAssignment.subject_id, DeviceAssignment.order_id,
               DeviceAssignment.assigned_at, DeviceAssignment.unassigned_at)
        .where(DeviceAssignment.device_id.in_(device_ids),
               DeviceAssignment.unassigned_at.is_not(None))
    )
    found: dict[uuid.UUID, list[EarlierHolder]] = {}
    for device_id, subject_id, order_id, since, until in rows:
        if until is not None:  # always, as selected
            found.setdefault(device_id, []).append(
                EarlierHolder(device_id, subject_id, order_id, since, until)
            )
    return found


def holder_at(earlier: list[EarlierHolder], at: datetime) -> EarlierHolder | None:
    """The earlier holder of an item taken at ``at``; None if it was on no order then."""
    return next((holder for holder in earlier if holder.held(at)), None)
