"""Every alert type, its class and its base priority (1 is the most urgent).

``compliance`` alerts may describe non-compliance; ``technical`` alerts describe a
device, GNSS, server or app fault and are never read as non-compliance. Each type
is documented in docs/rules.md (a test checks it). The types themselves are what the
rules conclude (`openem.rules.findings`, upstream); this is what alerts make of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from openem.rules.findings import AlertType

__all__ = ["CATALOGUE", "AlertClass", "AlertKind", "AlertType", "priority_for"]


class AlertClass(StrEnum):
    compliance = "compliance"
    technical = "technical"


@dataclass(frozen=True)
class AlertKind:
    alert_class: AlertClass
    priority: int


C, T = AlertClass.compliance, AlertClass.technical
CATALOGUE: dict[AlertType, AlertKind] = {
    AlertType.exclusion_zone_entry: AlertKind(C, 1),
    AlertType.inclusion_zone_absence: AlertKind(C, 2),
    AlertType.curfew_absence: AlertKind(C, 2),
    AlertType.strap_tamper: AlertKind(C, 2),
    AlertType.case_tamper: AlertKind(C, 2),
    AlertType.device_removed: AlertKind(C, 2),
    AlertType.checkin_missed: AlertKind(C, 3),
    AlertType.checkin_failed: AlertKind(C, 3),
    AlertType.checkin_repeated_failures: AlertKind(C, 2),
    AlertType.checkin_technical: AlertKind(T, 4),
    AlertType.battery_low: AlertKind(T, 4),
    AlertType.signal_loss: AlertKind(T, 3),
    AlertType.device_silent: AlertKind(T, 3),
}
RISK_ADJUSTMENT = {"low": 1, "medium": 0, "high": -1}
LOWEST_PRIORITY = 4


def priority_for(alert_type: AlertType, *, risk_level: str | None) -> int:
    """The rule's base priority, one step more urgent for high risk, one less for low."""
    base = CATALOGUE[alert_type].priority
    return min(LOWEST_PRIORITY, max(1, base + RISK_ADJUSTMENT.get(risk_level or "medium", 0)))
