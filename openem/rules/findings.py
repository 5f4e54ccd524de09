"""What the rules conclude, in their own words: alert types, evidence, conditions.

The rules decide *that* a condition (an exclusion-zone entry, a cut strap, a missed
check-in ...) started, is sustained by more evidence, or ended; the alerts domain,
downstream, decides what an alert is (class, priority, lifecycle, review). These
types are the contract between the two: the rules hand them to an `AlertSink`
(openem.rules.sink) and never import the alerts domain.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AlertType(StrEnum):
    """Every condition a rule can conclude (each documented in docs/rules.md)."""

    exclusion_zone_entry = "exclusion_zone_entry"
    inclusion_zone_absence = "inclusion_zone_absence"
    curfew_absence = "curfew_absence"
    strap_tamper = "strap_tamper"
    case_tamper = "case_tamper"
    device_removed = "device_removed"
    checkin_missed = "checkin_missed"
    checkin_failed = "checkin_failed"
    checkin_repeated_failures = "checkin_repeated_failures"
    checkin_technical = "checkin_technical"
    battery_low = "battery_low"
    signal_loss = "signal_loss"
    device_silent = "device_silent"


class EvidenceKind(StrEnum):
    position = "position"
    device_event = "device_event"
    checkin_decision = "checkin_decision"


@dataclass(frozen=True)
class Evidence:
    """A fix, device event or check-in decision that caused or sustained a condition."""

    kind: EvidenceKind
    ref: str
    device_id: uuid.UUID | None = None
    seq: int | None = None
    at: datetime | None = None

    @classmethod
    def fix(cls, *, device_id: uuid.UUID, seq: int, at: datetime | None = None) -> Evidence:
        return cls(EvidenceKind.position, f"{device_id}:{seq}", device_id, seq, at)

    @classmethod
    def device_event(cls, *, device_id: uuid.UUID, seq: int, at: datetime) -> Evidence:
        return cls(EvidenceKind.device_event, f"{device_id}:{seq}", device_id, seq, at)

    @classmethod
    def decision(cls, *, decision_id: str, at: datetime) -> Evidence:
        return cls(EvidenceKind.checkin_decision, decision_id, None, None, at)


@dataclass(frozen=True)
class Finding:
    """A condition a rule found: unique per (subject, type, key), so concluding the same
    thing twice (a message delivered again) names the same alert."""

    subject_id: uuid.UUID
    alert_type: AlertType
    key: str
    started_at: datetime
    evidence: tuple[Evidence, ...] = ()
    late: bool = False
    device_id: uuid.UUID | None = None
    zone_id: uuid.UUID | None = None
    zone_version_id: uuid.UUID | None = None
    ended_at: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Condition:
    """A condition already raised (an alert, as far as the rules need to know it)."""

    id: uuid.UUID
    subject_id: uuid.UUID
    alert_type: AlertType
    started_at: datetime
    ended_at: datetime | None
    device_id: uuid.UUID | None = None
    zone_id: uuid.UUID | None = None
