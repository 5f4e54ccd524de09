"""The alerts' side of `openem.rules.sink.AlertSink`: rule findings become alerts.

The rules conclude (`openem.rules.findings`); this turns each conclusion into the
alert lifecycle of `openem.alerts.raising`, in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.alerts import raising
from openem.alerts.models import Alert
from openem.rules.findings import AlertType, Condition, Evidence, Finding

SUPERSEDED = "superseded_by_late_fixes"


def condition_of(alert: Alert) -> Condition:
    return Condition(
        id=alert.id, subject_id=alert.subject_id, alert_type=AlertType(alert.type),
        started_at=alert.started_at, ended_at=alert.ended_at, device_id=alert.device_id,
        zone_id=alert.zone_id,
    )


class AlertsSink:
    """Implements `AlertSink` with the alerts table (see openem.alerts.raising)."""

    def raise_condition(self, session: Session, finding: Finding, *, now: datetime) -> Condition:
        alert, _ = raising.raise_alert(
            session, subject_id=finding.subject_id, alert_type=finding.alert_type,
            key=finding.key, started_at=finding.started_at, now=now, evidence=finding.evidence,
            late=finding.late, device_id=finding.device_id, zone_id=finding.zone_id,
            zone_version_id=finding.zone_version_id, ended_at=finding.ended_at,
            detail=dict(finding.detail),
        )
        return condition_of(alert)

    def ongoing(
        self, session: Session, *, subject_id: uuid.UUID, alert_types: tuple[AlertType, ...],
        device_id: uuid.UUID | None = None, zone_id: uuid.UUID | None = None,
    ) -> Condition | None:
        alert = raising.ongoing(session, subject_id=subject_id, alert_type=alert_types,
                                device_id=device_id, zone_id=zone_id)
        return None if alert is None else condition_of(alert)

    def ongoing_for_devices(
        self, session: Session, *, device_ids: Collection[uuid.UUID],
        alert_types: tuple[AlertType, ...],
    ) -> dict[uuid.UUID, list[Condition]]:
        found: dict[uuid.UUID, list[Condition]] = defaultdict(list)
        if not device_ids:
            return found
        query = select(Alert).where(
            Alert.device_id.in_(list(device_ids)), Alert.type.in_(alert_types),
            Alert.ended_at.is_(None),
        ).order_by(Alert.started_at.desc())
        for alert in session.scalars(query):
            assert alert.device_id is not None
            found[alert.device_id].append(condition_of(alert))
        return found

    def open_conditions(
        self, session: Session, *, subject_id: uuid.UUID, alert_types: tuple[AlertType, ...],
        zone_id: uuid.UUID | None = None,
    ) -> list[Condition]:
        return [
            condition_of(alert)
            for alert in raising.open_conditions(session, subject_id=subject_id,
                                                 alert_types=alert_types, zone_id=zone_id)
        ]

    def sustain(
        self, session: Session, *, condition: Condition, evidence: Sequence[Evidence],
        now: datetime,
    ) -> int:
        alert = _alert(session, condition)
        added = raising.add_evidence(session, alert=alert, evidence=evidence)
        if added:
            raising.record_event(session, alert=alert, action="updated", now=now)
        return added

    def end(
        self, session: Session, *, condition: Condition, ended_at: datetime, now: datetime,
        evidence: Sequence[Evidence] = (), superseded: bool = False,
        note: Mapping[str, object] | None = None,
    ) -> None:
        alert = _alert(session, condition)
        if alert.ended_at is None and (superseded or note):
            marks = {SUPERSEDED: True} if superseded else {}
            alert.detail = {**alert.detail, **(note or {}), **marks}
        raising.end_alert(session, alert=alert, ended_at=ended_at, now=now, evidence=evidence)

    def escalate(
        self, session: Session, *, now: datetime, minutes_by_priority: Sequence[int]
    ) -> None:
        raising.escalate_due(session, now=now, minutes_by_priority=minutes_by_priority)


def _alert(session: Session, condition: Condition) -> Alert:
    alert = session.get(Alert, condition.id)
    if alert is None:
        raise LookupError(f"alert {condition.id} is gone")
    return alert
