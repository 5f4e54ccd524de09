"""Exclusion-zone entry and inclusion/curfew absence, from fixes in fix-time order.

Fixes are classified with their accuracy by the compiled `ZoneIndex` (rebuilt when
any zone changes) against the zone version in force when each fix was taken, then
fed to the per-(subject, zone) hysteresis state. A fix older than the last one
taken makes the zone's recent history replay from stored fixes, raising (marked
late) whatever the complete history shows. Flagged fixes are neutral: never
evidence, never a streak.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from openem.devices import inbox
from openem.locations.service import subject_positions_since
from openem.rules import state as rule_state
from openem.rules.config import RulesConfig
from openem.rules.findings import AlertType, Condition, Evidence, Finding
from openem.rules.hysteresis import (
    Advance,
    Change,
    Transition,
    Verdict,
    ViolationState,
    ZoneObservation,
    advance,
    replay,
    verdict,
)
from openem.rules.sink import AlertSink
from openem.zones import service as zones
from openem.zones.index import ZoneAssignment, ZoneIndex, ZoneKind
from openem.zones.models import ZoneVersion

UNKNOWN_ACCURACY_M = 50.0
RULE = "zone"
REPORTING_RULE = "reporting"
ZONE_ALERTS = (AlertType.exclusion_zone_entry, AlertType.curfew_absence,
               AlertType.inclusion_zone_absence)


@dataclass(frozen=True)
class FixIn:
    device_id: uuid.UUID
    seq: int
    at: datetime
    lat: float
    lon: float
    accuracy_m: float | None
    flagged: bool
    received_at: datetime

    @property
    def fix_id(self) -> str:
        return f"{self.device_id}:{self.seq}"


@dataclass(frozen=True)
class VersionInfo:
    version_id: uuid.UUID
    valid_from: datetime
    kind: ZoneKind


class ZoneIndexCache:
    """The index over every zone's current version; rebuilt when a zone changes."""

    def __init__(self) -> None:
        self.fingerprint: tuple[int, datetime | None] | None = None
        self.index = ZoneIndex(zones=[])
        self.versions: dict[uuid.UUID, VersionInfo] = {}
        self.subjects: set[uuid.UUID] = set()
        self.rebuilds = 0

    def refresh(self, session: Session) -> ZoneIndex:
        fingerprint = zones.versions_fingerprint(session)
        if fingerprint != self.fingerprint:
            rows = zones.current_versions(session)
            self.index = ZoneIndex(zones=[zones.assignment_of(row) for row in rows])
            self.versions = {
                row.zone_id: VersionInfo(row.id, row.valid_from, ZoneKind(row.kind)) for row in rows
            }
            self.subjects = {row.subject_id for row in rows}
            self.fingerprint = fingerprint
            self.rebuilds += 1
        return self.index


def alert_type(kind: ZoneKind, *, scheduled: bool) -> AlertType:
    if kind == ZoneKind.EXCLUSION:
        return AlertType.exclusion_zone_entry
    return AlertType.curfew_absence if scheduled else AlertType.inclusion_zone_absence


def evaluate_fixes(
    session: Session,
    *,
    subject_id: uuid.UUID,
    device_id: uuid.UUID,
    fixes: list[FixIn],
    now: datetime,
    config: RulesConfig,
    cache: ZoneIndexCache,
    sink: AlertSink,
) -> None:
    """Judge a batch of one subject's fixes (the cache is refreshed by the caller)."""
    index = cache.index
    if not fixes or subject_id not in cache.subjects:
        return
    evaluation = index.evaluate(
        subject_ids=[subject_id] * len(fixes),
        times=[f.at for f in fixes],
        lats=[f.lat for f in fixes],
        lons=[f.lon for f in fixes],
        accuracies=[_accuracy(f.accuracy_m) for f in fixes],
    )
    observed: dict[uuid.UUID, list[ZoneObservation]] = defaultdict(list)
    older: dict[uuid.UUID, list[FixIn]] = defaultdict(list)
    for row in index.rows(evaluation=evaluation):
        fix = fixes[row.fix_index]
        zone_id = uuid.UUID(str(row.zone_id))
        if fix.at < cache.versions[zone_id].valid_from:
            older[zone_id].append(fix)
            continue
        observed[zone_id].append(
            ZoneObservation(fix.fix_id, fix.at, row.classification, row.active, fix.flagged)
        )
    for zone_id, early in older.items():
        observed[zone_id].extend(_judge_with_versions_in_force(session, zone_id=zone_id,
                                                               fixes=early))
    received = {f.fix_id: f.received_at for f in fixes}
    changed = False
    for zone_id, observations in observed.items():
        changed |= _advance_zone(
            session, subject_id=subject_id, device_id=device_id, zone_id=zone_id,
            kind=cache.versions[zone_id].kind, observations=observations, received=received,
            now=now, config=config, sink=sink,
        )
    if changed:
        _set_reporting_rate(session, subject_id=subject_id, device_id=device_id, now=now,
                            config=config)


def _advance_zone(
    session: Session, *, subject_id: uuid.UUID, device_id: uuid.UUID, zone_id: uuid.UUID,
    kind: ZoneKind, observations: list[ZoneObservation], received: dict[str, datetime],
    now: datetime, config: RulesConfig, sink: AlertSink,
) -> bool:
    """Advance one zone's state; True when whether it is violated changed."""
    stored = rule_state.load(session, subject_id=subject_id, rule=RULE, key=str(zone_id))
    before = ViolationState.from_dict(stored) if stored else ViolationState()
    result = advance(policy=config.policy, kind=kind, state=before, observations=observations)
    replayed = bool(result.late_fix_ids)
    if replayed:
        result = _replay(session, subject_id=subject_id, zone_id=zone_id, kind=kind, now=now,
                         config=config)
    rule_state.save(session, subject_id=subject_id, rule=RULE, key=str(zone_id),
                    data=result.state.to_dict(), now=now)
    if not replayed and not result.transitions and not result.state.open:
        return before.open != result.state.open
    current = _apply(
        session, subject_id=subject_id, device_id=device_id, zone_id=zone_id, result=result,
        replayed=replayed, received=received, now=now, config=config, sink=sink,
    )
    if current is not None and current.ended_at is None:
        violating = [
            _fix_evidence(o.fix_id, o.at)
            for o in observations
            if verdict(kind=kind, observation=o) is Verdict.VIOLATING
            and o.at >= current.started_at
        ]
        sink.sustain(session, condition=current, evidence=violating, now=now)
    return before.open != result.state.open


def _apply(
    session: Session, *, subject_id: uuid.UUID, device_id: uuid.UUID, zone_id: uuid.UUID,
    result: Advance, replayed: bool, received: dict[str, datetime], now: datetime,
    config: RulesConfig, sink: AlertSink,
) -> Condition | None:
    """Raise or end alerts for the transitions; returns the zone's ongoing alert, if any."""
    current = sink.ongoing(session, subject_id=subject_id, alert_types=ZONE_ALERTS,
                           zone_id=zone_id)
    reproduced = set()
    for transition in result.transitions:
        if transition.change is Change.OPENED:
            current = _open(session, subject_id=subject_id, device_id=device_id,
                            zone_id=zone_id, transition=transition, replayed=replayed,
                            received=received, now=now, config=config, sink=sink)
            reproduced.add(current.id)
        elif current is not None:
            sink.end(session, condition=current, ended_at=transition.at, now=now)
            current = None
    if replayed:
        superseded = _supersede(session, subject_id=subject_id, zone_id=zone_id,
                                keep=reproduced, now=now, sink=sink)
        if current is not None and current.id in superseded:
            return None
    return current


def _supersede(
    session: Session, *, subject_id: uuid.UUID, zone_id: uuid.UUID, keep: set[uuid.UUID],
    now: datetime, sink: AlertSink,
) -> set[uuid.UUID]:
    """An open alert that the complete history no longer shows (a late fix broke its
    streak) ends where it started, saying so; a person still reviews it. Returns the
    ids of the conditions ended."""
    ended = set()
    for condition in sink.open_conditions(session, subject_id=subject_id,
                                          alert_types=ZONE_ALERTS, zone_id=zone_id):
        if condition.id not in keep:
            sink.end(session, condition=condition, ended_at=condition.started_at, now=now,
                     superseded=True)
            ended.add(condition.id)
    return ended


def _open(
    session: Session, *, subject_id: uuid.UUID, device_id: uuid.UUID, zone_id: uuid.UUID,
    transition: Transition, replayed: bool, received: dict[str, datetime], now: datetime,
    config: RulesConfig, sink: AlertSink,
) -> Condition:
    version = zones.version_in_force(session, zone_id=zone_id, at=transition.at)
    if version is None:
        version = zones.version_in_force(session, zone_id=zone_id, at=transition.decided_at)
    kind = ZoneKind(version.kind) if version else ZoneKind.INCLUSION
    decided_id = transition.evidence_fix_ids[-1] if transition.evidence_fix_ids else None
    arrived = received.get(str(decided_id)) if decided_id is not None else None
    late = replayed or (arrived is not None and arrived - transition.decided_at > config.late_after)
    finding = Finding(
        subject_id=subject_id,
        alert_type=alert_type(kind, scheduled=bool(version and version.schedule)),
        key=f"{zone_id}:{transition.at.isoformat()}",
        started_at=transition.at,
        evidence=tuple(_fix_evidence(f, None) for f in transition.evidence_fix_ids),
        late=late,
        device_id=device_id,
        zone_id=zone_id,
        zone_version_id=version.id if version else None,
        detail={"decided_at": transition.decided_at.isoformat(), "zone_kind": kind.value},
    )
    return sink.raise_condition(session, finding, now=now)


def _replay(
    session: Session, *, subject_id: uuid.UUID, zone_id: uuid.UUID, kind: ZoneKind,
    now: datetime, config: RulesConfig,
) -> Advance:
    versions = sorted(_versions(session, zone_id=zone_id), key=lambda v: v.valid_from)
    if not versions:
        return replay(policy=config.policy, kind=kind, observations=[])
    start = max(versions[0].valid_from, now - config.replay)
    positions = subject_positions_since(session, subject_id=subject_id, start=start)
    groups: dict[int, list[FixIn]] = defaultdict(list)
    for p in positions:
        slot = _version_slot(versions, p.fixed_at)
        if slot is not None:
            groups[slot].append(FixIn(p.device_id, p.seq, p.fixed_at, p.lat, p.lon,
                                      p.accuracy_m, bool(p.flags), p.received_at))
    observations = []
    for slot, fixes in groups.items():
        observations.extend(_observe(versions[slot], fixes))
    return replay(policy=config.policy, kind=kind, observations=observations)


def _versions(session: Session, *, zone_id: uuid.UUID) -> list[ZoneVersion]:
    return zones.versions_of(session, zone_id=zone_id)


def _version_slot(versions: list[ZoneVersion], at: datetime) -> int | None:
    slot = None
    for i, v in enumerate(versions):
        if v.valid_from <= at:
            slot = i
    if slot is None or versions[slot].retired:
        return None
    return slot


def _observe(version: ZoneVersion, fixes: list[FixIn]) -> list[ZoneObservation]:
    assignment = zones.assignment_of(version)
    index = ZoneIndex(zones=[ZoneAssignment(0, version.zone_id, assignment.kind,
                                            assignment.shape, assignment.schedule)])
    evaluation = index.evaluate(
        subject_ids=np.zeros(len(fixes), dtype=np.int64), times=[f.at for f in fixes],
        lats=[f.lat for f in fixes], lons=[f.lon for f in fixes],
        accuracies=[_accuracy(f.accuracy_m) for f in fixes],
    )
    return [
        ZoneObservation(fixes[r.fix_index].fix_id, fixes[r.fix_index].at, r.classification,
                        r.active, fixes[r.fix_index].flagged)
        for r in index.rows(evaluation=evaluation)
    ]


def _judge_with_versions_in_force(
    session: Session, *, zone_id: uuid.UUID, fixes: list[FixIn]
) -> list[ZoneObservation]:
    """Fixes taken before the zone's current version, judged by the version of their time."""
    versions = sorted(_versions(session, zone_id=zone_id), key=lambda v: v.valid_from)
    groups: dict[int, list[FixIn]] = defaultdict(list)
    for fix in fixes:
        slot = _version_slot(versions, fix.at)
        if slot is not None:
            groups[slot].append(fix)
    return [o for slot, group in groups.items() for o in _observe(versions[slot], group)]


def _set_reporting_rate(
    session: Session, *, subject_id: uuid.UUID, device_id: uuid.UUID, now: datetime,
    config: RulesConfig,
) -> None:
    """While any exclusion or curfew violation is open, the device reports every 15 s."""
    violating = any(
        row.data.get("open") for row in rule_state.all_for(session, subject_id=subject_id,
                                                            rule=RULE)
    )
    key = str(device_id)
    fast = bool(rule_state.load(session, subject_id=subject_id, rule=REPORTING_RULE, key=key)
                .get("fast"))
    if violating == fast:
        return
    if violating:
        interval = config.violation_fix_interval_s
        inbox.configure(session, device_id=device_id, fix_interval_s=interval,
                        upload_interval_s=interval, reason="zone_violation", now=now)
    else:
        inbox.configure(session, device_id=device_id, fix_interval_s=inbox.DEFAULT_FIX_INTERVAL_S,
                        upload_interval_s=inbox.DEFAULT_UPLOAD_INTERVAL_S, reason="normal",
                        now=now)
    rule_state.save(session, subject_id=subject_id, rule=REPORTING_RULE, key=key,
                    data={"fast": violating}, now=now)


def _fix_evidence(fix_id: Any, at: datetime | None) -> Evidence:
    device, _, seq = str(fix_id).rpartition(":")
    return Evidence.fix(device_id=uuid.UUID(device), seq=int(seq), at=at)


def _accuracy(value: float | None) -> float:
    return UNKNOWN_ACCURACY_M if value is None else float(value)
