"""Store a device's telemetry once, flag doubtful fixes, and queue it for the consumers.

Everything happens in the caller's transaction; the device is acknowledged only
after that transaction commits, so an acknowledged item is never lost.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from openem.bus.outbox import enqueue
from openem.devices.models import Device, DeviceHealth
from openem.ingest.items import AnyItem, PositionItem, RejectedItem
from openem.ingest.models import DeviceEvent
from openem.locations.models import Position
from openem.locations.quality import Fix, QualitySettings, check_fix
from openem.subjects.models import Order
from openem.subjects.modes import DROPPED_BY_MODE, keeps_fix

TELEMETRY_SUBJECT = "openem.telemetry"


@dataclass
class IngestResult:
    accepted: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    rejected: list[RejectedItem] = field(default_factory=list)
    flagged: dict[int, list[str]] = field(default_factory=dict)
    dropped: list[tuple[int, str]] = field(default_factory=list)

    def as_response(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [
                {"index": r.index, "seq": r.seq, "reason": r.reason, "field": r.field}
                for r in self.rejected
            ],
            "flagged": {str(seq): flags for seq, flags in self.flagged.items()},
            "dropped": [{"seq": seq, "reason": reason} for seq, reason in self.dropped],
        }


def _stored_seqs(session: Session, device_id: Any, seqs: list[int]) -> set[int]:
    if not seqs:
        return set()
    positions = select(Position.seq).where(Position.device_id == device_id, Position.seq.in_(seqs))
    events = select(DeviceEvent.seq).where(
        DeviceEvent.device_id == device_id, DeviceEvent.seq.in_(seqs)
    )
    return set(session.scalars(positions.union_all(events)))


def _last_fix(session: Session, device_id: Any) -> Fix | None:
    row = session.execute(
        select(Position.fixed_at, Position.lat, Position.lon, Position.accuracy_m)
        .where(Position.device_id == device_id, Position.flags == "")
        .order_by(Position.fixed_at.desc())
        .limit(1)
    ).first()
    return Fix(ts=row[0], lat=row[1], lon=row[2], accuracy_m=row[3]) if row else None


def _position_rows(
    session: Session,
    device: Device,
    positions: list[PositionItem],
    now: datetime,
    quality: QualitySettings,
    result: IngestResult,
) -> list[dict[str, Any]]:
    previous = _last_fix(session, device.id)
    rows = []
    for item in sorted(positions, key=lambda p: p.ts):
        fix = Fix(ts=item.ts, lat=item.lat, lon=item.lon, accuracy_m=item.accuracy_m)
        verdict = check_fix(fix, previous=previous, now=now, settings=quality)
        flags = sorted(verdict.flags)
        if flags:
            result.flagged[item.seq] = list(flags)
        else:
            previous = fix
        rows.append(
            {
                "device_id": device.id,
                "subject_id": device.subject_id,
                "order_id": device.order_id,
                "seq": item.seq,
                "fixed_at": item.ts,
                "received_at": now,
                "lat": item.lat,
                "lon": item.lon,
                "accuracy_m": item.accuracy_m,
                "speed_mps": item.speed_mps,
                "heading_deg": item.heading_deg,
                "altitude_m": item.altitude_m,
                "source": item.source,
                "flags": ",".join(flags),
            }
        )
    return rows


def _event_row(device: Device, item: AnyItem, now: datetime) -> dict[str, Any]:
    data = item.model_dump(mode="json", exclude={"seq", "ts", "type"})
    return {
        "device_id": device.id,
        "subject_id": device.subject_id,
        "seq": item.seq,
        "kind": item.type,
        "at": item.ts,
        "received_at": now,
        "data": data,
    }


def _update_health(session: Session, device: Device, items: list[AnyItem], now: datetime) -> None:
    health = session.get(DeviceHealth, device.id) or DeviceHealth(device_id=device.id)
    health.subject_id = device.subject_id
    health.last_seen_at = now
    for item in sorted(items, key=lambda i: i.ts):
        if item.type == "position":
            health.last_fix_at = max(filter(None, (health.last_fix_at, item.ts)))
        elif item.type == "battery":
            health.battery_level, health.charging = item.level, item.charging
        elif item.type == "strap":
            health.strap_state = item.state
        elif item.type == "case":
            health.case_state = item.state
        elif item.type == "worn":
            health.worn = item.worn
        elif item.type == "signal":
            health.signal_rssi = item.rssi
    session.add(health)


def _event(
    device: Device, items: list[AnyItem], flagged: dict[int, list[str]], now: datetime
) -> dict[str, Any]:
    return {
        "device_id": str(device.id),
        "subject_id": str(device.subject_id) if device.subject_id else None,
        "order_id": str(device.order_id) if device.order_id else None,
        "received_at": now.isoformat(),
        "items": [
            item.model_dump(mode="json") | {"flags": flagged.get(item.seq, [])} for item in items
        ],
    }


def _apply_monitoring_mode(
    session: Session, device: Device, items: list[AnyItem], result: IngestResult
) -> list[AnyItem]:
    """Drop the fixes the order's monitoring mode does not allow: they are never stored."""
    order = session.get(Order, device.order_id) if device.order_id else None
    kept: list[AnyItem] = []
    for item in items:
        if isinstance(item, PositionItem) and not keeps_fix(session, order=order, at=item.ts):
            result.dropped.append((item.seq, DROPPED_BY_MODE))
        else:
            kept.append(item)
    return kept


def ingest(
    session: Session,
    *,
    device: Device,
    items: list[AnyItem],
    rejected: list[RejectedItem],
    now: datetime,
    quality: QualitySettings | None = None,
) -> IngestResult:
    """Store new items once; report duplicates; queue the new ones for the bus.

    Fixes that the order's monitoring mode does not allow are answered as
    ``dropped`` (final: the device must not re-send them) and never stored or queued.
    """
    result = IngestResult(rejected=list(rejected))
    stored = _stored_seqs(session, device.id, [item.seq for item in items])
    fresh = [item for item in items if item.seq not in stored]
    result.duplicates = [item.seq for item in items if item.seq in stored]
    if not fresh:
        _update_health(session, device, [], now)
        return result
    fresh = _apply_monitoring_mode(session, device, fresh, result)
    if not fresh:
        _update_health(session, device, [], now)
        return result
    positions = [item for item in fresh if isinstance(item, PositionItem)]
    others = [item for item in fresh if not isinstance(item, PositionItem)]
    if positions:
        rows = _position_rows(session, device, positions, now, quality or QualitySettings(), result)
        session.execute(insert(Position), rows)
    if others:
        session.execute(insert(DeviceEvent), [_event_row(device, item, now) for item in others])
    _update_health(session, device, fresh, now)
    result.accepted = [item.seq for item in fresh]
    seqs = ",".join(str(seq) for seq in sorted(result.accepted))
    msg_id = f"telemetry:{device.id}:{hashlib.sha256(seqs.encode()).hexdigest()[:32]}"
    enqueue(
        session,
        subject=f"{TELEMETRY_SUBJECT}.{device.id}",
        msg_id=msg_id,
        event=_event(device, fresh, result.flagged, now),
    )
    return result
