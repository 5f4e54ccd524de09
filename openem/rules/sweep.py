"""The periodic sweep: signal loss and silent devices, then escalation. Clock injected.

*Signal loss*: the device is talking (heard from at least N minutes after its last
fix, and not silent) but has sent no fix for N minutes: no GNSS, shielding, indoors.
*Device silent*: nothing at all for M minutes: no network, a flat battery, a
fault. Both are technical: neither is ever read as non-compliance on its own.

First (partition 0 only, like escalation), devices whose order has ended are released
as of its end, and the silence, lost signal or removal tamper of devices just released or
taken off their holders in the last day are ended
(`openem.rules.device_rules.settle_hand_backs`): nobody is chased for a device they were
entitled to hand back.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from openem.devices.service import assigned_health, release_ended_orders
from openem.rules.config import RulesConfig
from openem.rules.device_rules import last_battery, settle_hand_backs
from openem.rules.findings import AlertType, Finding
from openem.rules.partition import WHOLE, Partition
from openem.rules.sink import AlertSink


def sweep(
    session: Session, *, now: datetime, config: RulesConfig, sink: AlertSink,
    partition: Partition = WHOLE,
) -> None:
    if partition.escalates:
        released = release_ended_orders(session, now=now)
        settle_hand_backs(session, now=now, config=config, sink=sink, released=released)
    for device, health in assigned_health(session, now=now):
        assert device.subject_id is not None
        if not partition.owns(device.subject_id):
            continue
        seen = health.last_seen_at if health else None
        fixed = health.last_fix_at if health else None
        since_assigned = device.updated_at
        silent = now - (seen or since_assigned) >= config.device_silent
        last_fix = fixed or since_assigned
        no_fix = (
            not silent
            and seen is not None
            and now - last_fix >= config.signal_loss
            and seen - last_fix >= config.signal_loss
        )
        _condition(session, subject_id=device.subject_id, device_id=device.id,
                   alert_type=AlertType.device_silent, present=silent,
                   since=seen or since_assigned, recovered=seen, now=now, sink=sink)
        if not silent:
            _condition(session, subject_id=device.subject_id, device_id=device.id,
                       alert_type=AlertType.signal_loss, present=no_fix,
                       since=last_fix, recovered=fixed, now=now, sink=sink)
    if partition.escalates:
        sink.escalate(session, now=now, minutes_by_priority=config.escalation_minutes)


def _condition(
    session: Session, *, subject_id: uuid.UUID, device_id: uuid.UUID, alert_type: AlertType,
    present: bool, since: datetime, recovered: datetime | None, now: datetime,
    sink: AlertSink,
) -> None:
    ongoing = sink.ongoing(session, subject_id=subject_id, alert_types=(alert_type,),
                           device_id=device_id)
    if present and ongoing is None:
        detail: dict[str, object] = {}
        if alert_type is AlertType.device_silent:
            battery = last_battery(session, subject_id=subject_id, device_id=device_id)
            if battery.get("level") is not None:
                detail = {"last_battery_level": battery["level"],
                          "last_charging": battery.get("charging")}
        sink.raise_condition(session, Finding(
            subject_id=subject_id, alert_type=alert_type, key=f"{device_id}:{since.isoformat()}",
            started_at=since, device_id=device_id, detail=detail,
        ), now=now)
    elif not present and ongoing is not None:
        sink.end(session, condition=ongoing, ended_at=recovered or now, now=now)
