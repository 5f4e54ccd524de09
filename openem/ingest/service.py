"""Store a device's telemetry once, flag doubtful fixes, and queue it for the consumers.

Everything happens in the caller's transaction; the device is acknowledged only
after that transaction commits, so an acknowledged item is never lost.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any, Protocol

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from openem.bus.outbox import OutboxEntry, enqueue_many
from openem.db.bulk import (
    Column,
    Distinct,
    DriverRows,
    Repeated,
    StoredRows,
    driver_columns,
    driver_rows,
    insert_all,
    insert_driver_rows,
    join_rows,
    rows_by_key,
    stored_rows_by_key,
)
from openem.devices.models import DeviceHealth
from openem.devices.pairing import LiveDevice
from openem.ingest.attribution import EarlierHolder, earlier_holders, holder_at
from openem.ingest.items import AnyItem, PositionItem, RejectedItem, in_zone_of
from openem.ingest.models import DeviceEvent
from openem.locations.models import Position
from openem.locations.quality import Fix, FixLike, QualitySettings, check_fix, plausible
from openem.subjects.models import MonitoringMode, Order
from openem.subjects.modes import why_dropped

TELEMETRY_SUBJECT = "openem.telemetry"
# Dropped: taken before the device's current assignment began and on no earlier one (a
# re-issued device's items from the store room), so nobody's, and not to be stored as
# its subject's.
BEFORE_ASSIGNMENT = "taken_before_assignment"
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
    @property
    def serving_since(self) -> datetime | None: ...


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


def read_health(
    connection: Session | Connection, device_ids: list[uuid.UUID], *, for_update: bool = False
) -> dict[uuid.UUID, dict[str, Any]]:
    """The devices' health rows, or empty ones. ``for_update`` locks them on PostgreSQL
    until commit, in device order, so concurrent batches cannot deadlock on them."""
    rows = read_health_rows(connection, device_ids, for_update=for_update)
    return {device_id: rows.health(device_id) for device_id in device_ids}


@dataclass(frozen=True, slots=True)
class HealthRows:
    """Devices' health rows as stored; :meth:`health` types one for planning, and a plan
    is checked against a later reading by comparing :meth:`stored` rows."""

    rows: StoredRows
    by_device: dict[uuid.UUID, tuple[Any, ...]]

    def stored(self, device_id: uuid.UUID) -> tuple[Any, ...] | None:
        """The row as the driver gave it; None when the device has none yet."""
        return self.by_device.get(device_id)

    def health(self, device_id: uuid.UUID) -> dict[str, Any]:
        row = self.by_device.get(device_id)
        if row is None:
            return _EMPTY_HEALTH | {"device_id": device_id}
        return self.rows.typed(row)


_EMPTY_HEALTH: dict[str, Any] = {column.name: None for column in HEALTH.c}


NO_HEALTH = HealthRows(StoredRows([], [], "device_id"), {})


def read_health_rows(
    connection: Session | Connection, device_ids: list[uuid.UUID], *, for_update: bool = False
) -> HealthRows:
    """:func:`read_health` as stored."""
    rows = stored_rows_by_key(connection, HEALTH, "device_id", device_ids, for_update=for_update)
    return HealthRows(rows, rows.by_key())


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


def _flag_fixes(
    health: dict[str, Any],
    positions: list[PositionItem],
    now: datetime,
    quality: QualitySettings,
    flagged: dict[int, list[str]],
) -> None:
    """Put the quality flags of each doubtful fix in ``flagged``, judging each fix in time
    order against the last good one before it."""
    previous: FixLike | None = _previous_fix(health)
    now = in_zone_of(now, positions)
    for item in sorted(positions, key=attrgetter("ts")):
        if plausible(item, previous=previous, now=now, settings=quality):
            flags = []
        else:
            flags = sorted(check_fix(item, previous=previous, now=now, settings=quality).flags)
        if flags:
            flagged[item.seq] = list(flags)
        elif previous is None or item.ts >= previous.ts:
            previous = item


def _position_columns(
    device: SendingDevice, fixes: list[PositionItem], flagged: dict[int, list[str]], now: datetime
) -> dict[str, Column]:
    """The positions rows for ``fixes``, a column at a time, in ``fixes``' order."""
    def column(name: str) -> list[Any]:
        return list(map(attrgetter(name), fixes))

    return {
        "device_id": Repeated(device.id),
        "subject_id": Repeated(device.subject_id),
        "order_id": Repeated(device.order_id),
        "seq": column("seq"),
        "fixed_at": Distinct(map(attrgetter("ts"), fixes)),
        "received_at": Repeated(now),
        "lat": column("lat"),
        "lon": column("lon"),
        "accuracy_m": column("accuracy_m"),
        "speed_mps": column("speed_mps"),
        "heading_deg": column("heading_deg"),
        "altitude_m": column("altitude_m"),
        "source": column("source"),
        "flags": [",".join(flagged[item.seq]) if item.seq in flagged else "" for item in fixes],
    }


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


def _event_payload(
    device: SendingDevice, items: list[AnyItem], flagged: dict[int, list[str]], now: datetime
) -> bytes:
    """The outbox message as JSON (docs/rules.md): each item as its model serialises it
    (one call into pydantic's serializer), with its ``flags`` added."""
    head = json.dumps(
        {
            "device_id": str(device.id),
            "subject_id": str(device.subject_id) if device.subject_id else None,
            "order_id": str(device.order_id) if device.order_id else None,
            "received_at": now.isoformat(),
        },
        separators=(",", ":"),
    ).encode()
    dumped = [
        item.__pydantic_serializer__.to_json(item)[:-1] + _flags_json(flagged.get(item.seq))
        for item in items
    ]
    return head[:-1] + b',"items":[' + b",".join(dumped) + b"]}"


def _flags_json(flags: list[str] | None) -> bytes:
    """The end of an item's JSON object: its flags and the closing brace."""
    if not flags:
        return b',"flags":[]}'
    return b',"flags":' + json.dumps(flags, separators=(",", ":")).encode() + b"}"


def _restricted(
    session: Session, uploads: list[Upload], from_earlier: set[uuid.UUID]
) -> set[uuid.UUID]:
    """The devices among ``uploads`` whose upload is not all kept as its current holder's:
    something in it was taken before the device began serving that holder (see
    :mod:`openem.ingest.attribution`), or a fix before its order started or once it had
    ended, or its order's mode keeps less than the full trail."""
    restricted = set(from_earlier)
    first_fix: dict[uuid.UUID, datetime] = {}
    last_fix: dict[uuid.UUID, datetime] = {}
    for upload in uploads:
        device, order_id = upload.device, upload.device.order_id
        fixes = [item.ts for item in upload.items if isinstance(item, PositionItem)]
        if order_id is None or not fixes:
            continue
        first, last = min(fixes), max(fixes)
        if isinstance(device, LiveDevice) and device.order_term is not None:
            if not device.order_term.keeps_all(first, last):  # its term, read with its key
                restricted.add(device.id)
            continue
        first_fix[order_id] = min(first, first_fix.get(order_id, first))
        last_fix[order_id] = max(last, last_fix.get(order_id, last))
    if not last_fix:
        return restricted
    orders = rows_by_key(session, ORDERS, "id", list(last_fix),
                         columns=("id", "monitoring_mode", "starts_at", "ends_at"))
    restricting = {
        row["id"]
        for row in orders
        if row["monitoring_mode"] != MonitoringMode.full_trail
        or first_fix[row["id"]] < row["starts_at"]
        or last_fix[row["id"]] >= row["ends_at"]
    }
    return restricted | {u.device.id for u in uploads if u.device.order_id in restricting}


def _from_earlier(uploads: list[Upload]) -> set[uuid.UUID]:
    """The devices among ``uploads`` that sent something taken before they began serving
    their current holder."""
    return {
        upload.device.id
        for upload in uploads
        if (since := upload.device.serving_since) is not None
        and any(item.ts < since for item in upload.items)
    }


def _attribute(
    session: Session,
    device: SendingDevice,
    items: list[AnyItem],
    result: IngestResult,
    earlier: list[EarlierHolder],
) -> tuple[list[AnyItem], dict[EarlierHolder, list[AnyItem]]]:
    """Split ``items`` between the device's current holder and the ``earlier`` ones it
    served when they were taken, and drop what may not be kept: anything taken before the
    current assignment and on no earlier one, and the fixes the holder's order does not
    allow (its mode, or taken before it started or once it had ended)."""
    kept: list[AnyItem] = []
    late: dict[EarlierHolder, list[AnyItem]] = {}
    for item in items:
        holder: SendingDevice | None = device
        if device.serving_since is not None and item.ts < device.serving_since:
            holder = holder_at(earlier, item.ts) or (device if device.order_id is None else None)
        reason = BEFORE_ASSIGNMENT if holder is None else None
        if holder is not None and isinstance(item, PositionItem):
            order = session.get(Order, holder.order_id) if holder.order_id is not None else None
            reason = why_dropped(session, order=order, at=item.ts)
        if reason is not None:
            result.dropped.append((item.seq, reason))
        elif isinstance(holder, EarlierHolder):
            late.setdefault(holder, []).append(item)
        else:
            kept.append(item)
    return kept, late


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


@dataclass
class Plan:
    """What storing one upload writes if every item in it is new, worked out before the
    write transaction (on SQLite, outside the one writer lock) against ``health_read``,
    the device's health row as read then (``health_stored``: as stored, None if there
    was none). :func:`ingest_many` uses it as it is when the stored row is unchanged
    and the order keeps every fix, and works again from the stored rows for whatever
    turns out to be a duplicate."""

    pending: _Pending
    health_read: dict[str, Any]
    health_stored: tuple[Any, ...] | None
    health: dict[str, Any]
    positions: DriverRows
    events: DriverRows
    message: OutboxEntry | None


def plan_upload(
    upload: Upload,
    healths: HealthRows,
    *,
    dialect: str,
    quality: QualitySettings | None = None,
    items: list[AnyItem] | None = None,
    result: IngestResult | None = None,
    last_fix: dict[str, Any] | None = None,
) -> Plan:
    """Quality flags, rows, health and outbox message for ``upload`` (or its ``items``,
    when some were dropped into ``result``), as if every item were new; its fixes are
    judged after the health's last fix, or ``last_fix``'s columns. No database."""
    result = result or IngestResult(rejected=list(upload.rejected))
    health_read = healths.health(upload.device.id)
    if last_fix:
        health_read = health_read | last_fix
    entry = _Pending(upload=upload, result=result, items=upload.items if items is None else items)
    device, now = upload.device, upload.now
    # In (device, seq) order: see ingest_many.
    fixes = sorted((item for item in entry.items if isinstance(item, PositionItem)),
                   key=attrgetter("seq"))
    _flag_fixes(health_read, fixes, now, quality or QualitySettings(), entry.flagged)
    events = [
        _event_row(device, item, now) for item in entry.items if not isinstance(item, PositionItem)
    ]
    health = dict(health_read)
    return Plan(
        pending=entry,
        health_read=health_read,
        health_stored=healths.stored(upload.device.id),
        health=health,
        positions=driver_columns(
            dialect, POSITIONS, len(fixes), _position_columns(device, fixes, entry.flagged, now)
        ),
        events=driver_rows(dialect, EVENTS, events),
        message=_settle(entry, health, entry.items),
    )


def ingest_many(
    session: Session,
    uploads: list[Upload],
    *,
    quality: QualitySettings | None = None,
    plans: list[Plan | None] | None = None,
) -> list[IngestResult]:
    """:func:`ingest` for uploads from distinct devices, with one statement per table.

    ``plans`` (from :func:`plan_upload`, one per upload, in order; None for an upload
    not planned) are used where they still hold; the others are worked out here.
    """
    if len({u.device.id for u in uploads}) != len(uploads):
        raise ValueError("one upload per device in a batch")
    if plans is not None and len(plans) != len(uploads):
        raise ValueError("one plan per upload")
    if not uploads:
        return []
    from_earlier = _from_earlier(uploads)
    restricted = _restricted(session, uploads, from_earlier)
    earlier = earlier_holders(session, from_earlier)
    healths = read_health_rows(session, [u.device.id for u in uploads], for_update=True)
    planned = [
        _current_plan(session, upload, healths, restricted, quality,
                      plans[index] if plans is not None else None,
                      earlier.get(upload.device.id, []))
        for index, upload in enumerate(uploads)
    ]
    settled = [plan for current, late in planned for plan in (current, *late)]
    # Rows go in (device, seq) order: concurrent PostgreSQL batches then take the
    # unique-index locks in one order and cannot deadlock.
    in_order = sorted(settled, key=_first_row)
    new_positions = _insert_new(session, [plan.positions for plan in in_order])
    new_events = _insert_new(session, [plan.events for plan in in_order])
    if new_positions is not None or new_events is not None:
        for plan in settled:
            _settle_duplicates(plan, new_positions, new_events)
    # Health is the device's state now: what it took for an earlier holder leaves it be.
    _write_health(session, [current.health for current, _ in planned])
    enqueue_many(session, [plan.message for plan in settled if plan.message is not None])
    return [_merged(current, late) for current, late in planned]


def _first_row(plan: Plan) -> tuple[uuid.UUID, int]:
    items = plan.pending.items  # in increasing seq order, as parsed
    return plan.pending.upload.device.id, items[0].seq if items else 0


def _merged(current: Plan, late: list[Plan]) -> IngestResult:
    """The upload's result, with what was stored for its device's earlier holders."""
    result = current.pending.result
    for plan in late:
        result.accepted = sorted([*result.accepted, *plan.pending.result.accepted])
        result.duplicates = sorted([*result.duplicates, *plan.pending.result.duplicates])
        result.flagged |= plan.pending.result.flagged
    return result


def _current_plan(
    session: Session,
    upload: Upload,
    healths: HealthRows,
    restricted: set[uuid.UUID],
    quality: QualitySettings | None,
    plan: Plan | None,
    earlier: list[EarlierHolder],
) -> tuple[Plan, list[Plan]]:
    """The upload's plan for its device's current holder, and one for each earlier holder
    it took something for (stored under that holder, without the device's current
    health: its fixes are judged after that holder's last good fix before them)."""
    restricts = upload.device.id in restricted
    if plan is not None and not restricts and plan.health_stored == healths.stored(
        upload.device.id
    ):
        return plan, []
    result = IngestResult(rejected=list(upload.rejected))
    items, late = upload.items, dict[EarlierHolder, list[AnyItem]]()
    if restricts:
        items, late = _attribute(session, upload.device, items, result, earlier)
    dialect = session.get_bind().dialect.name
    current = plan_upload(upload, healths, dialect=dialect, quality=quality, items=items,
                          result=result)
    return current, [
        plan_upload(Upload(device=holder, items=taken, rejected=[], now=upload.now),
                    NO_HEALTH, dialect=dialect, quality=quality,
                    last_fix=_last_fix_before(session, holder, taken))
        for holder, taken in late.items()
    ]


def _last_fix_before(
    session: Session, holder: EarlierHolder, items: list[AnyItem]
) -> dict[str, Any] | None:
    """The holder's last unflagged fix from the device before the first of ``items``, as
    health columns."""
    first = min(item.ts for item in items)
    p = Position
    row = session.execute(
        select(p.fixed_at, p.lat, p.lon, p.accuracy_m)
        .where(p.subject_id == holder.subject_id, p.device_id == holder.id,
               p.fixed_at < first, p.flags == "")
        .order_by(p.fixed_at.desc()).limit(1)
    ).first()
    if row is None:
        return None
    return {"last_fix_at": row.fixed_at, "last_fix_lat": row.lat, "last_fix_lon": row.lon,
            "last_fix_accuracy_m": row.accuracy_m}


def _insert_new(session: Session, parts: list[DriverRows]) -> set[tuple[uuid.UUID, int]] | None:
    """Insert the rows that are new; None when all were, else the (device, seq) inserted."""
    rows = join_rows(parts)
    if rows is None:
        return None
    found = insert_driver_rows(session, rows, unique=("device_id", "seq"),
                               returning=("device_id", "seq"))
    return None if found is None else {(device_id, seq) for device_id, seq in found}


def _settle_duplicates(
    plan: Plan,
    new_positions: set[tuple[uuid.UUID, int]] | None,
    new_events: set[tuple[uuid.UUID, int]] | None,
) -> None:
    """Settle ``plan`` again if some of its items were already stored (``None``: every
    row of that table was new)."""
    entry = plan.pending
    device_id = entry.upload.device.id
    fresh = [
        item
        for item in entry.items
        if (new := new_positions if isinstance(item, PositionItem) else new_events) is None
        or (device_id, item.seq) in new
    ]
    if len(fresh) < len(entry.items):
        plan.health = dict(plan.health_read)
        plan.message = _settle(entry, plan.health, fresh)


def _settle(entry: _Pending, health: dict[str, Any], fresh: list[AnyItem]) -> OutboxEntry | None:
    """Split the upload into accepted (``fresh``) and duplicates, update health, and say
    what to publish."""
    device, now, result = entry.upload.device, entry.upload.now, entry.result
    new_seqs = {item.seq for item in fresh}
    result.duplicates = [item.seq for item in entry.items if item.seq not in new_seqs]
    result.flagged = {seq: flags for seq, flags in entry.flagged.items() if seq in new_seqs}
    result.accepted = [item.seq for item in fresh]
    _update_health(health, device, fresh, result.flagged, now)
    if not fresh:
        return None
    seqs = ",".join(str(seq) for seq in sorted(result.accepted))
    return OutboxEntry(
        subject=f"{TELEMETRY_SUBJECT}.{device.id}",
        msg_id=f"telemetry:{device.id}:{hashlib.sha256(seqs.encode()).hexdigest()[:32]}",
        event=_event_payload(device, fresh, result.flagged, now),
    )
