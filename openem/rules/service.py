"""Entry points of the rules: telemetry batches and check-in outcomes, both idempotent.

Each runs in the caller's transaction and hands what it concludes to an `AlertSink`
(injected; the rules never import the alerts domain). A batch whose items were all
taken before (the bus delivered it again) changes nothing.

`process_telemetry_batch` takes a whole fetched batch of bus messages with a fixed
number of queries, however many messages and devices it holds: one to find and one
to mark the items not taken before, one for the rule state of every subject in the
batch, one for the devices' ongoing silence and signal-loss conditions, one for the
terms of their orders; the changed state is written when the caller's session flushes.
Messages are still evaluated in delivery order, one after another, each device's fixes
in fix-time order.

Nothing taken at or after the end of its order is evaluated: until the sweep releases a
device from an ended order, its events still arrive under the order, and the wearer is
by then entitled to take the tag off. Nor is anything taken before the order started.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.rules import state as rule_state
from openem.rules.checkin_rules import evaluate_outcome
from openem.rules.config import RulesConfig
from openem.rules.device_rules import BATTERY_RULE, DEVICE_RULE, evaluate_events
from openem.rules.findings import AlertType, Condition
from openem.rules.sink import AlertSink
from openem.rules.zone_rules import REPORTING_RULE, RULE, FixIn, ZoneIndexCache, evaluate_fixes
from openem.subjects.models import Order

CONTACT_TYPES = (AlertType.device_silent, AlertType.signal_loss)


@dataclass(frozen=True)
class TelemetryMessage:
    """One ``openem.telemetry.<device_id>`` message, parsed."""

    subject_id: uuid.UUID
    device_id: uuid.UUID
    order_id: uuid.UUID | None
    received_at: datetime
    items: list[dict[str, Any]]

    @classmethod
    def parse(cls, event: dict[str, Any]) -> TelemetryMessage | None:
        if not event.get("subject_id"):
            return None
        return cls(
            subject_id=uuid.UUID(str(event["subject_id"])),
            device_id=uuid.UUID(str(event["device_id"])),
            order_id=uuid.UUID(str(event["order_id"])) if event.get("order_id") else None,
            received_at=datetime.fromisoformat(str(event["received_at"])),
            items=list(event.get("items", [])),
        )


def process_telemetry(
    session: Session, *, event: dict[str, Any], now: datetime, config: RulesConfig,
    cache: ZoneIndexCache, sink: AlertSink,
) -> int:
    """Evaluate one ``openem.telemetry.<device_id>`` message; returns the items taken."""
    return process_telemetry_batch(session, events=[event], now=now, config=config,
                                   cache=cache, sink=sink)


def process_telemetry_batch(
    session: Session, *, events: list[dict[str, Any]], now: datetime, config: RulesConfig,
    cache: ZoneIndexCache, sink: AlertSink,
) -> int:
    """Evaluate telemetry messages in delivery order; returns the items taken."""
    messages = [m for m in map(TelemetryMessage.parse, events) if m is not None]
    if not messages:
        return 0
    fresh = rule_state.unprocessed_many(
        session, items=[(m.device_id, int(i["seq"])) for m in messages for i in m.items], now=now,
    )
    if not fresh:
        return 0
    rule_state.preload(session, subject_ids={m.subject_id for m in messages},
                       rules=(RULE, REPORTING_RULE, DEVICE_RULE, BATTERY_RULE))
    contact = sink.ongoing_for_devices(session, device_ids=set(fresh), alert_types=CONTACT_TYPES)
    terms = _order_terms(session, {m.order_id for m in messages if m.order_id is not None})
    taken = 0
    for message in messages:
        unseen = fresh.get(message.device_id, set())
        items = [i for i in message.items if int(i["seq"]) in unseen]
        unseen.difference_update(int(i["seq"]) for i in items)
        taken += len(items)
        term = terms.get(message.order_id) if message.order_id else None
        if term is not None:
            items = [i for i in items if term[0] <= datetime.fromisoformat(i["ts"]) < term[1]]
        if items:
            _evaluate(session, message=message, items=items, ongoing=contact, now=now,
                      config=config, cache=cache, sink=sink)
    return taken


def _order_terms(
    session: Session, order_ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[datetime, datetime]]:
    """Each order's start and end: nothing taken outside them is evaluated."""
    if not order_ids:
        return {}
    rows = session.execute(
        select(Order.id, Order.starts_at, Order.ends_at).where(Order.id.in_(order_ids))
    )
    return {order_id: (starts_at, ends_at) for order_id, starts_at, ends_at in rows}


def _evaluate(
    session: Session, *, message: TelemetryMessage, items: list[dict[str, Any]],
    ongoing: dict[uuid.UUID, list[Condition]], now: datetime, config: RulesConfig,
    cache: ZoneIndexCache, sink: AlertSink,
) -> None:
    fixes = [
        FixIn(message.device_id, int(i["seq"]), datetime.fromisoformat(i["ts"]),
              float(i["lat"]), float(i["lon"]), i.get("accuracy_m"), bool(i.get("flags")),
              message.received_at)
        for i in items
        if i["type"] == "position"
    ]
    _contact(session, message=message, fixes=fixes, ongoing=ongoing, now=now, sink=sink)
    evaluate_fixes(session, subject_id=message.subject_id, device_id=message.device_id,
                   fixes=sorted(fixes, key=lambda f: (f.at, f.seq)), now=now, config=config,
                   cache=cache, sink=sink)
    evaluate_events(session, subject_id=message.subject_id, device_id=message.device_id,
                    items=[i for i in items if i["type"] != "position"], now=now, config=config,
                    sink=sink)


def process_checkin(
    session: Session, *, event: dict[str, Any], now: datetime, config: RulesConfig,
    sink: AlertSink,
) -> None:
    """Evaluate one ``openem.checkins.<subject_id>`` outcome."""
    evaluate_outcome(session, event=event, now=now, config=config, sink=sink)


def _contact(
    session: Session, *, message: TelemetryMessage, fixes: list[FixIn],
    ongoing: dict[uuid.UUID, list[Condition]], now: datetime, sink: AlertSink,
) -> None:
    """The device is heard again: a silent-device alert ends; a good fix ends signal loss.
    ``ongoing`` holds the batch's devices' conditions, latest-started first."""
    good = [f.at for f in fixes if not f.flagged]
    wanted = CONTACT_TYPES if good else (AlertType.device_silent,)
    conditions = ongoing.get(message.device_id, [])
    for condition in [c for c in conditions
                      if c.subject_id == message.subject_id and c.alert_type in wanted]:
        silent = condition.alert_type == AlertType.device_silent
        ended = message.received_at if silent else max(good)
        sink.end(session, condition=condition, ended_at=ended, now=now)
        conditions.remove(condition)
