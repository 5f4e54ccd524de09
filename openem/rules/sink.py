"""Where the rules hand what they conclude: a small protocol the alerts domain implements.

Data flows rules -> alerts, so the rules never import the alerts domain; the app
(and each harness that runs the rules) injects an implementation
(`openem.alerts.sink.AlertsSink`). Every method runs in the caller's transaction,
so a condition and the rule state that found it commit together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from openem.rules.findings import AlertType, Condition, Evidence, Finding


class AlertSink(Protocol):
    def raise_condition(self, session: Session, finding: Finding, *, now: datetime) -> Condition:
        """The alert for this finding, created once (again: more evidence, same alert)."""

    def ongoing(
        self, session: Session, *, subject_id: uuid.UUID, alert_types: tuple[AlertType, ...],
        device_id: uuid.UUID | None = None, zone_id: uuid.UUID | None = None,
    ) -> Condition | None:
        """The latest-started condition of these types that has not ended."""

    def ongoing_for_devices(
        self, session: Session, *, device_ids: Collection[uuid.UUID],
        alert_types: tuple[AlertType, ...],
    ) -> dict[uuid.UUID, list[Condition]]:
        """Every condition of these types not ended, per device, latest-started first
        (one query for a whole batch)."""

    def open_conditions(
        self, session: Session, *, subject_id: uuid.UUID, alert_types: tuple[AlertType, ...],
        zone_id: uuid.UUID | None = None,
    ) -> list[Condition]:
        """Every condition of these types that has not ended, oldest first."""

    def sustain(
        self, session: Session, *, condition: Condition, evidence: Sequence[Evidence],
        now: datetime,
    ) -> int:
        """Add evidence to an ongoing condition; returns how many pieces were new."""

    def end(
        self, session: Session, *, condition: Condition, ended_at: datetime, now: datetime,
        evidence: Sequence[Evidence] = (), superseded: bool = False,
        note: Mapping[str, object] | None = None,
    ) -> None:
        """The condition is over (``superseded``: the complete history no longer shows it;
        ``note``: added to its detail, for the person who reviews it)."""

    def escalate(
        self, session: Session, *, now: datetime, minutes_by_priority: Sequence[int]
    ) -> None:
        """The periodic sweep's turn for the alerts: escalate what nobody acknowledged."""
