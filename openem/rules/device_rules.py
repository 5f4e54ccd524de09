"""Battery, strap, case and worn events: welfare first, tamper only when the device says so.

A low battery, not charging, earns the wearer a warning through the device inbox
at each tier (30, 15, 5 % by default) before any alert, and the alert it finally
raises is technical. Only a strap or case reported opened or cut is tamper; a
battery that dies is never recorded as tamper (silence is a technical alert).

A technician taking the device off at a recorded removal cuts the strap too: what
the device reports up to `RulesConfig.removal_leeway` before the removal raises no
alert, and an alert it raised before the removal was recorded is ended at the
removal, with `at_recorded_removal` in its detail, for a person to close.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from openem.devices import inbox
from openem.devices import service as devices_service
from openem.devices.service import LATEST_VISIT_RECORD
from openem.rules import state as rule_state
from openem.rules.config import RulesConfig
from openem.rules.findings import AlertType, Condition, Evidence, Finding
from openem.rules.sink import AlertSink
from openem.subjects import wording
from openem.subjects.models import Subject

DEVICE_RULE = "device"
BATTERY_RULE = "battery"

AT_REMOVAL = "at_recorded_removal"
TAMPER = (AlertType.strap_tamper, AlertType.case_tamper, AlertType.device_removed)
ABSENCE = (AlertType.device_silent, AlertType.signal_loss)

# item type -> (alert type, the values that mean "condition present", "condition over")
CONDITIONS: dict[str, tuple[AlertType, str, frozenset[Any], frozenset[Any]]] = {
    "strap": (AlertType.strap_tamper, "state", frozenset({"opened", "cut"}), frozenset({"intact"})),
    "case": (AlertType.case_tamper, "state", frozenset({"opened"}), frozenset({"closed"})),
    "worn": (AlertType.device_removed, "worn", frozenset({False}), frozenset({True})),
}


def evaluate_events(
    session: Session,
    *,
    subject_id: uuid.UUID,
    device_id: uuid.UUID,
    items: list[dict[str, Any]],
    now: datetime,
    config: RulesConfig,
    sink: AlertSink,
) -> None:
    for item in sorted(items, key=lambda i: (i["ts"], i["seq"])):
        at = datetime.fromisoformat(item["ts"])
        if item["type"] == "battery":
            _battery(session, subject_id=subject_id, device_id=device_id, item=item, at=at,
                     now=now, config=config, sink=sink)
        elif item["type"] in CONDITIONS:
            _condition(session, subject_id=subject_id, device_id=device_id, item=item, at=at,
                       now=now, removal_leeway=config.removal_leeway, sink=sink)


def _condition(
    session: Session, *, subject_id: uuid.UUID, device_id: uuid.UUID, item: dict[str, Any],
    at: datetime, now: datetime, removal_leeway: timedelta, sink: AlertSink,
) -> None:
    alert_type, field, present, over = CONDITIONS[item["type"]]
    key = f"{item['type']}:{device_id}"
    last = rule_state.load(session, subject_id=subject_id, rule=DEVICE_RULE, key=key)
    if last.get("at") and datetime.fromisoformat(last["at"]) > at:
        return
    rule_state.save(session, subject_id=subject_id, rule=DEVICE_RULE, key=key,
                    data={"at": at.isoformat(), "value": item[field]}, now=now)
    evidence = [Evidence.device_event(device_id=device_id, seq=item["seq"], at=at)]
    ongoing = sink.ongoing(session, subject_id=subject_id, alert_types=(alert_type,),
                           device_id=device_id)
    if item[field] in present:
        if ongoing is None and devices_service.removal_after(
            session, device_id=device_id, subject_id=subject_id, at=at, within=removal_leeway
        ):
            return
        if ongoing is None:
            sink.raise_condition(session, Finding(
                subject_id=subject_id, alert_type=alert_type, key=f"{device_id}:{item['seq']}",
                started_at=at, evidence=tuple(evidence), device_id=device_id,
                detail={item["type"]: item[field]},
            ), now=now)
        else:
            sink.sustain(session, condition=ongoing, evidence=evidence, now=now)
    elif item[field] in over and ongoing is not None:
        sink.end(session, condition=ongoing, ended_at=at, now=now, evidence=evidence)


def settle_hand_backs(
    session: Session, *, now: datetime, config: RulesConfig, sink: AlertSink,
    released: Sequence[devices_service.EndedAssignment] = (),
) -> None:
    """End what the device's holder can no longer answer for once it was taken off them:
    the tamper its recorded removal caused, and its silence or lost signal. Looks at the
    assignments that ended in the last day, and at those just ``released``, whenever
    they ended."""
    recent = devices_service.ended_since(
        session, since=now - LATEST_VISIT_RECORD - config.removal_leeway
    )
    ended = [*recent, *(e for e in released if e not in recent)]
    kinds = (*TAMPER, *ABSENCE)
    ongoing = sink.ongoing_for_devices(session, device_ids={e.device_id for e in ended},
                                       alert_types=kinds)
    for assignment in ended:
        for condition in ongoing.get(assignment.device_id, []):
            if condition.subject_id != assignment.subject_id:
                continue
            if condition.alert_type in ABSENCE and condition.started_at <= assignment.ended_at:
                sink.end(session, condition=condition, ended_at=assignment.ended_at, now=now)
            elif assignment.removed and _caused_by_removal(condition, assignment, config):
                sink.end(session, condition=condition, ended_at=assignment.ended_at, now=now,
                         note={AT_REMOVAL: assignment.ended_at.isoformat()})


def _caused_by_removal(
    condition: Condition, assignment: devices_service.EndedAssignment, config: RulesConfig
) -> bool:
    return (assignment.ended_at - config.removal_leeway
            <= condition.started_at <= assignment.ended_at)


def _battery(
    session: Session, *, subject_id: uuid.UUID, device_id: uuid.UUID, item: dict[str, Any],
    at: datetime, now: datetime, config: RulesConfig, sink: AlertSink,
) -> None:
    key = str(device_id)
    state = rule_state.load(session, subject_id=subject_id, rule=BATTERY_RULE, key=key)
    if state.get("at") and datetime.fromisoformat(state["at"]) > at:
        return
    level, charging = int(item["level"]), bool(item.get("charging", False))
    warned: list[int] = list(state.get("warned", []))
    ongoing = sink.ongoing(session, subject_id=subject_id, alert_types=(AlertType.battery_low,),
                           device_id=device_id)
    evidence = [Evidence.device_event(device_id=device_id, seq=item["seq"], at=at)]
    top = max(config.battery_warning_levels, default=0)
    if charging or level > top:
        warned = []
        if ongoing is not None and (charging or level > config.battery_alert_level):
            sink.end(session, condition=ongoing, ended_at=at, now=now, evidence=evidence)
    else:
        crossed = [t for t in config.battery_warning_levels if level <= t and t not in warned]
        if crossed:
            _warn_wearer(session, subject_id=subject_id, device_id=device_id, level=level,
                         tier=min(crossed), now=now)
            warned.extend(crossed)
        if level <= config.battery_alert_level and ongoing is None:
            sink.raise_condition(session, Finding(
                subject_id=subject_id, alert_type=AlertType.battery_low,
                key=f"{device_id}:{item['seq']}", started_at=at, evidence=tuple(evidence),
                device_id=device_id, detail={"level": level, "wearer_warned_at": sorted(warned)},
            ), now=now)
    rule_state.save(session, subject_id=subject_id, rule=BATTERY_RULE, key=key, now=now,
                    data={"at": at.isoformat(), "level": level, "charging": charging,
                          "warned": sorted(set(warned), reverse=True)})


def last_battery(session: Session, *, subject_id: uuid.UUID, device_id: uuid.UUID) -> Any:
    return rule_state.load(session, subject_id=subject_id, rule=BATTERY_RULE, key=str(device_id))


def _warn_wearer(
    session: Session, *, subject_id: uuid.UUID, device_id: uuid.UUID, level: int, tier: int,
    now: datetime,
) -> None:
    """A low-battery message on the device, in the wearer's language where translated."""
    subject = session.get(Subject, subject_id)
    language = wording.resolve(subject.language if subject else None)
    inbox.post(session, device_id=device_id, kind="message", now=now, payload={
        "topic": "battery_low", "level": level, "tier": tier, "language": language,
        "text": wording.texts(language)["battery_low"].format(level=level),
    })
