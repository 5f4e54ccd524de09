"""Store a device's telemetry once, flag doubtful fixes, and queue it for the consumers.

Everything happens in the caller's transaction; the device is acknowledged only
after that transaction commits, so an acknowledged item is never lost.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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


def _insert_new(
    session: Session, table: type[Position] | type[DeviceEvent], rows: list[dict[str, Any]]
) -> set[int]:
    """Insert rows whose (device, seq) is new; returns the seqs actually inserted."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    statement = postgresql_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    inserted = session.execute(
        statement.on_conflict_do_nothing(index_elements=["device_id", "seq"]).returning(table.seq),
        rows,
    )
    return set(inserted.scalars())


def _previous_fix(health: DeviceHealth) -> Fix | None:
    if health.last_fix_at is None or health.last_fix_lat is None or health.last_fix_lon is None:
        return None
    return Fix(
        ts=health.last_fix_at,
        lat=health.last_fix_lat,
        lon=health.last_fix_lon,
        accuracy_m=health.last_fix_accuracy_m,
    )


def _position_rows(
    device: Device,
    health: DeviceHealth,
    positions: list[PositionItem],
    now: datetime,
    quality: QualitySettings,
    flagged: dict[int, list[str]],
) -> list[dict[str, Any]]:
    previous = _previous_fix(health)
    rows = []
    for item in sorted(positions, key=lambda p: p.ts):
        fix = Fix(ts=item.ts, lat=item.lat, lon=item.lon, accuracy_m=item.accuracy_m)
        verdict = check_fix(fix, previous=previous, now=now, settings=quality)
        flags = sorted(verdict.flags)
        if flags:
            flagged[item.seq] = list(flags)
        elif previous is None or fix.ts >= previous.ts:
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


def _update_health(
    health: DeviceHealth,
    device: Device,
    items: list[AnyItem],
    flagged: dict[int, list[str]],
    now: datetime,
) -> None:
    health.subject_id = device.subject_id
    health.last_seen_at = now
    for item in sorted(items, key=lambda i: i.ts):
        if item.type == "position":
            if item.seq in flagged or (health.last_fix_at and item.ts < health.last_fix_at):
                continue
            health.last_fix_at, health.last_fix_lat, health.last_fix_lon = (
                item.ts,
                item.lat,
                item.lon,
            )
            health.last_fix_accuracy_m = item.accuracy_m
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
    items = _apply_monitoring_mode(session, device, items, result)
    health = session.get(DeviceHealth, device.id) or DeviceHealth(device_id=device.id)
    session.add(health)
    positions = [item for item in items if isinstance(item, PositionItem)]
    others = [item for item in items if not isinstance(item, PositionItem)]
    flagged: dict[int, list[str]] = {}
    rows = _position_rows(device, health, positions, now, quality or QualitySettings(), flagged)
    inserted = _insert_new(session, Position, rows)
    inserted |= _insert_new(
        session, DeviceEvent, [_event_row(device, item, now) for item in others]
    )
    fresh = [item for item in items if item.seq in inserted]
    result.duplicates = [item.seq for item in items if item.seq not in inserted]
    result.flagged = {seq: flags for seq, flags in flagged.items() if seq in inserted}
    _update_health(health, device, fresh, result.flagged, now)
    if not fresh:
        return result
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
