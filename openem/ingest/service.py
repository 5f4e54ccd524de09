"""Store a device's telemetry once, flag doubtful fixes, and queue it for the consumers.

Everything happens in the caller's transaction; the device is acknowledged only
after that transaction commits, so an acknowledged item is never lost.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import Executable, Table, bindparam, select
from sqlalchemy.orm import Session

from openem.bus.outbox import OutboxEntry, enqueue_many
from openem.db.bulk import insert_all, insert_new, rows_by_key
from openem.devices.models import DeviceHealth
from openem.ingest.items import AnyItem, PositionItem, RejectedItem, dump_items
from openem.ingest.models import DeviceEvent
from openem.locations.models import Position
from openem.locations.quality import Fix, FixLike, QualitySettings, check_fix
from openem.subjects.models import MonitoringMode, Order
from openem.subjects.modes import DROPPED_BY_MODE, keeps_fix

TELEMETRY_SUBJECT = "openem.telemetry"
POSITIONS: Table = Position.__table__  # type: ignore[assignment]
EVENTS: Table = DeviceEvent.__table__  # type: ignore[assignment]
HEALTH: Table = DeviceHealth.__table__  # type: ignore[assignment]
ORDERS: Table = Order.__table__  # type: ignore[assignment]


class SendingDevice(Protocol):
    """What ingest needs to know about the device a batch came from."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def subject_id(self) -> uuid.UUID | None: ...
    @property
    def order_id(self) -> uuid.UUID | None: ...


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


@cache
def _statements(dialect: str) -> dict[str, Executable]:
    """Built once per dialect: building statements costs more than running them here."""
    return {
        "modes": select(ORDERS.c.id, ORDERS.c.monitoring_mode).where(
            ORDERS.c.id.in_(bindparam("order_ids", expanding=True))
        ),
    }


def _statement(session: Session, name: str) -> Executable:
    return _statements(session.get_bind().dialect.name)[name]


def _insert_new(
    session: Session, table: Table, rows: list[dict[str, Any]]
) -> set[tuple[uuid.UUID, int]]:
    """Insert rows whose (device, seq) is new; returns the (device, seq) actually inserted."""
    rows = sorted(rows, key=lambda row: (row["device_id"], row["seq"]))
    inserted = insert_new(
        session, table, rows, unique=("device_id", "seq"), returning=("device_id", "seq")
    )
    return {(device_id, seq) for device_id, seq in inserted}


def _read_health(session: Session, device_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The devices' health rows (locked on PostgreSQL until commit, in device order, so
    concurrent batches cannot deadlock on them), or empty ones."""
    rows = rows_by_key(session, HEALTH, "device_id", device_ids, for_update=True)
    found = {row["device_id"]: row for row in rows}
    empty = {c.name: None for c in HEALTH.c}
    return {d: found.get(d) or empty | {"device_id": d} for d in device_ids}


def _write_health(session: Session, healths: list[dict[str, Any]]) -> None:
    insert_all(session, HEALTH, healths, replacing_on=("device_id",))


def _previous_fix(health: dict[str, Any]) -> Fix | None:
    if health["last_fix_at"] is None or health["last_fix_lat"] is None:
        return None
    return Fix(
        ts=health["last_fix_at"],
        lat=health["last_fix_lat"],
        lon=health["last_fix_lon"],
        accuracy_m=health["last_fix_accuracy_m"],
    )


def _position_rows(
    device: SendingDevice,
    health: dict[str, Any],
    positions: list[PositionItem],
    now: datetime,
    quality: QualitySettings,
    flagged: dict[int, list[str]],
) -> list[dict[str, Any]]:
    previous: FixLike | None = _previous_fix(health)
    rows = []
    for item in sorted(positions, key=lambda p: p.ts):
        verdict = check_fix(item, previous=previous, now=now, settings=quality)
        flags = sorted(verdict.flags) if verdict.issues else []
        if flags:
            flagged[item.seq] = list(flags)
        elif previous is None or item.ts >= previous.ts:
            previous = item
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


def _event_row(device: SendingDevice, item: AnyItem, now: datetime) -> dict[str, Any]:
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
    health: dict[str, Any],
    device: SendingDevice,
    items: list[AnyItem],
    flagged: dict[int, list[str]],
    now: datetime,
) -> None:
    health["subject_id"] = device.subject_id
    health["last_seen_at"] = now
    for item in sorted(items, key=lambda i: i.ts):
        if item.type == "position":
            last_fix_at = health["last_fix_at"]
            if item.seq in flagged or (last_fix_at and item.ts < last_fix_at):
                continue
            health.update(
                last_fix_at=item.ts,
                last_fix_lat=item.lat,
                last_fix_lon=item.lon,
                last_fix_accuracy_m=item.accuracy_m,
            )
        elif item.type == "battery":
            health.update(battery_level=item.level, charging=item.charging)
        elif item.type == "strap":
            health["strap_state"] = item.state
        elif item.type == "case":
            health["case_state"] = item.state
        elif item.type == "worn":
            health["worn"] = item.worn
        elif item.type == "signal":
            health["signal_rssi"] = item.rssi


def _event(
    device: SendingDevice, items: list[AnyItem], flagged: dict[int, list[str]], now: datetime
) -> dict[str, Any]:
    return {
        "device_id": str(device.id),
        "subject_id": str(device.subject_id) if device.subject_id else None,
        "order_id": str(device.order_id) if device.order_id else None,
        "received_at": now.isoformat(),
        "items": [
            dumped | {"flags": flagged.get(item.seq, [])}
            for item, dumped in zip(items, dump_items(items), strict=True)
        ],
    }


def _restricted_orders(session: Session, uploads: list[Upload]) -> set[uuid.UUID]:
    """The orders among ``uploads`` whose monitoring mode keeps less than the full trail."""
    order_ids = [
        u.device.order_id
        for u in uploads
        if u.device.order_id is not None and any(isinstance(i, PositionItem) for i in u.items)
    ]
    if not order_ids:
        return set()
    modes = session.execute(_statement(session, "modes"), {"order_ids": order_ids})
    return {order_id for order_id, mode in modes if mode != MonitoringMode.full_trail}


def _apply_monitoring_mode(
    session: Session, device: SendingDevice, items: list[AnyItem], result: IngestResult
) -> list[AnyItem]:
    """Drop the fixes the order's monitoring mode does not allow: they are never stored."""
    order = session.get(Order, device.order_id)
    kept: list[AnyItem] = []
    for item in items:
        if isinstance(item, PositionItem) and not keeps_fix(session, order=order, at=item.ts):
            result.dropped.append((item.seq, DROPPED_BY_MODE))
        else:
            kept.append(item)
    return kept


@dataclass(frozen=True, slots=True)
class Upload:
    """One device's batch of validated items, as received at ``now``."""

    device: SendingDevice
    items: list[AnyItem]
    rejected: list[RejectedItem]
    now: datetime


@dataclass
class _Pending:
    upload: Upload
    result: IngestResult
    items: list[AnyItem]
    flagged: dict[int, list[str]] = field(default_factory=dict)


def ingest(
    session: Session,
    *,
    device: SendingDevice,
    items: list[AnyItem],
    rejected: list[RejectedItem],
    now: datetime,
    quality: QualitySettings | None = None,
) -> IngestResult:
    """Store new items once; report duplicates; queue the new ones for the bus.

    Fixes that the order's monitoring mode does not allow are answered as
    ``dropped`` (final: the device must not re-send them) and never stored or queued.
    """
    upload = Upload(device=device, items=items, rejected=rejected, now=now)
    return ingest_many(session, [upload], quality=quality)[0]


def ingest_many(
    session: Session, uploads: list[Upload], *, quality: QualitySettings | None = None
) -> list[IngestResult]:
    """:func:`ingest` for uploads from distinct devices, with one statement per table."""
    if len({u.device.id for u in uploads}) != len(uploads):
        raise ValueError("one upload per device in a batch")
    if not uploads:
        return []
    quality = quality or QualitySettings()
    restricted = _restricted_orders(session, uploads)
    pending = []
    for upload in uploads:
        result = IngestResult(rejected=list(upload.rejected))
        items = upload.items
        if upload.device.order_id in restricted:
            items = _apply_monitoring_mode(session, upload.device, items, result)
        pending.append(_Pending(upload=upload, result=result, items=items))
    healths = _read_health(session, [u.device.id for u in uploads])
    positions, events = [], []
    for entry in pending:
        device, now = entry.upload.device, entry.upload.now
        fixes = [item for item in entry.items if isinstance(item, PositionItem)]
        positions += _position_rows(device, healths[device.id], fixes, now, quality, entry.flagged)
        events += [
            _event_row(device, item, now)
            for item in entry.items
            if not isinstance(item, PositionItem)
        ]
    inserted = _insert_new(session, POSITIONS, positions) | _insert_new(session, EVENTS, events)
    messages = [_settle(entry, healths[entry.upload.device.id], inserted) for entry in pending]
    _write_health(session, list(healths.values()))
    enqueue_many(session, [message for message in messages if message is not None])
    return [entry.result for entry in pending]


def _settle(
    entry: _Pending, health: dict[str, Any], inserted: set[tuple[uuid.UUID, int]]
) -> OutboxEntry | None:
    """Split the upload into accepted and duplicates, update health, and say what to publish."""
    device, now, result = entry.upload.device, entry.upload.now, entry.result
    fresh = [item for item in entry.items if (device.id, item.seq) in inserted]
    new_seqs = {item.seq for item in fresh}
    result.duplicates = [item.seq for item in entry.items if item.seq not in new_seqs]
    result.flagged = {seq: flags for seq, flags in entry.flagged.items() if seq in new_seqs}
    _update_health(health, device, fresh, result.flagged, now)
    if not fresh:
        return None
    result.accepted = [item.seq for item in fresh]
    seqs = ",".join(str(seq) for seq in sorted(result.accepted))
    return OutboxEntry(
        subject=f"{TELEMETRY_SUBJECT}.{device.id}",
        msg_id=f"telemetry:{device.id}:{hashlib.sha256(seqs.encode()).hexdigest()[:32]}",
        event=_event(device, fresh, result.flagged, now),
    )
