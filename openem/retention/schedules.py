"""Retention schedules: for each data class, a period counted from a named event.

``order_end`` is the end of the subject's last order (or, for a subject who never
had one, their enrolment); ``recorded`` is the time the row itself was written.
Six years by default (telemetry that names nobody: 30 days); a deployment may shorten
any class with ``OPENEM_RETENTION_DAYS``, never beyond ``OPENEM_RETENTION_MAX_DAYS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from openem.config import Settings
from openem.errors import Invalid

DEFAULT_DAYS = 2192  # six years, leap days included
UNATTRIBUTED_DAYS = 30  # long enough to diagnose a device, no longer
ORDER_END = "order_end"
RECORDED = "recorded"


@dataclass(frozen=True)
class DataClass:
    name: str
    event: str
    description: str
    default_days: int = DEFAULT_DAYS


# Purge order: data that names a subject goes before the subject's identity.
DATA_CLASSES: tuple[DataClass, ...] = (
    DataClass("enrolment_media", ORDER_END, "enrolment photos and face templates"),
    DataClass("checkin_frames", ORDER_END, "check-in frames"),
    DataClass("checkin_decisions", ORDER_END, "check-in decisions with scores"),
    DataClass("alerts", ORDER_END, "alerts and the decisions on them"),
    DataClass("disclosures", ORDER_END, "police disclosures and the disclosure register"),
    DataClass("positions", ORDER_END, "positions (fixes), trail archives, telemetry on the bus"),
    DataClass("device_events", ORDER_END, "device events: battery, strap, case, signal, worn"),
    DataClass("orders", ORDER_END, "monitoring orders, reviews and escalations"),
    DataClass("identity", ORDER_END, "names, date of birth, nationality, identifiers, requests"),
    DataClass("unattributed_telemetry", RECORDED,
              "fixes and device events from devices serving no order (in stock, handed back)",
              default_days=UNATTRIBUTED_DAYS),
    DataClass("audit_trail", RECORDED, "the audit trail (deletion certificates are kept)"),
)
CLASS_NAMES = tuple(data_class.name for data_class in DATA_CLASSES)


@dataclass(frozen=True)
class Schedule:
    data_class: str
    days: int
    event: str
    description: str

    def cutoff(self, now: datetime) -> datetime:
        """Data whose event happened at or before this instant is due."""
        return now - timedelta(days=self.days)


def check_period(name: str, days: int, *, max_days: int) -> None:
    if name not in CLASS_NAMES:
        raise Invalid(f"unknown data class '{name}'", field="retention_days")
    if days <= 0:
        raise Invalid(f"retention for {name} must be at least one day", field="retention_days")
    if days > max_days:
        raise Invalid(
            f"retention for {name} is over the deployment maximum of {max_days} days",
            field="retention_days",
        )


def build_schedules(*, overrides: Mapping[str, int], max_days: int) -> dict[str, Schedule]:
    """Every class's schedule; refuses unknown classes, zero, and periods over the maximum."""
    for name, days in overrides.items():
        check_period(name, days, max_days=max_days)
    schedules = {
        data_class.name: Schedule(
            data_class.name,
            overrides.get(data_class.name, min(data_class.default_days, max_days)),
            data_class.event,
            data_class.description,
        )
        for data_class in DATA_CLASSES
    }
    identity = schedules["identity"].days
    longer = [
        s.data_class for s in schedules.values() if s.event == ORDER_END and s.days > identity
    ]
    if longer:
        raise Invalid(
            "identity must be kept at least as long as the data that names the subject: "
            + ", ".join(longer),
            field="retention_days",
        )
    return schedules


def schedules_from_settings(settings: Settings) -> dict[str, Schedule]:
    return build_schedules(overrides=settings.retention_days, max_days=settings.retention_max_days)
