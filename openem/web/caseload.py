"""The caseload at a glance: one row per subject with order, alerts, device health and review.

A read model for the dashboard. It narrows to the viewer's caseload with the policy's
``caseload_filter`` and pages by subject id (keyset), so the 200th page costs what the
first does. Every view is audited (ids only).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, exists, func, null, select
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.policy import caseload_filter, require
from openem.access.principal import Principal
from openem.db.registry import Base
from openem.devices.models import DeviceHealth
from openem.errors import Invalid
from openem.pagination import Page
from openem.subjects.models import Order, OrderStatus, Subject

PAGE_SIZE = 50
OPEN_ALERT_STATUSES = ("open", "acknowledged", "assigned")
LOW_BATTERY = 15
NOT_HEARD_FOR = timedelta(hours=1)
REVIEW_SOON = timedelta(days=14)


class StatusFilter(StrEnum):
    all = "all"
    alerts = "alerts"
    compliant = "compliant"
    device = "device"
    review = "review"


@dataclass(frozen=True)
class CaseloadRow:
    subject_id: uuid.UUID
    reference: str
    name: str
    risk_level: str
    fictional: bool
    monitoring_mode: str | None
    next_review_on: date | None
    open_alerts: int | None
    last_seen_at: datetime | None
    battery_level: int | None
    strap_state: str | None

    def device_health(self, now: datetime) -> str:
        if self.last_seen_at is None:
            return "no device"
        if self.strap_state not in (None, "closed", "ok", "intact"):
            return "tamper"
        if now - _aware(self.last_seen_at) > NOT_HEARD_FOR:
            return "not heard"
        if self.battery_level is not None and self.battery_level < LOW_BATTERY:
            return "low battery"
        return "ok"

    def status(self, now: datetime) -> str:
        if self.monitoring_mode is None:
            return "no order"
        if self.open_alerts:
            return "open alerts"
        if self.device_health(now) in ("tamper", "not heard"):
            return "device issue"
        return "compliant"

    def review_due(self, today: date) -> bool:
        return self.next_review_on is not None and self.next_review_on <= today + REVIEW_SOON


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def alerts_table() -> Table | None:
    """The alerts table once the alerts domain is installed; None before it is."""
    return Base.metadata.tables.get("alerts")


def _open_alerts(alerts: Table) -> Any:
    return and_(alerts.c.subject_id == Subject.id, alerts.c.status.in_(OPEN_ALERT_STATUSES))


def _active_order(column: Any) -> Any:
    return (
        select(column)
        .where(Order.subject_id == Subject.id, Order.status == OrderStatus.active)
        .order_by(Order.starts_at.desc())
        .limit(1)
        .scalar_subquery()
    )


def _health(column: Any) -> Any:
    return (
        select(column)
        .where(DeviceHealth.subject_id == Subject.id)
        .order_by(DeviceHealth.last_seen_at.desc())
        .limit(1)
        .scalar_subquery()
    )


def _query(alerts: Table | None) -> Select[Any]:
    open_alerts: Any = (
        select(func.count()).select_from(alerts).where(_open_alerts(alerts)).scalar_subquery()
        if alerts is not None
        else null()
    )
    columns: list[Any] = [
        Subject.id,
        Subject.home_office_reference,
        Subject.given_name,
        Subject.family_name,
        Subject.risk_level,
        Subject.fictional,
        _active_order(Order.monitoring_mode).label("monitoring_mode"),
        _active_order(Order.next_review_on).label("next_review_on"),
        open_alerts.label("open_alerts"),
        _health(DeviceHealth.last_seen_at).label("last_seen_at"),
        _health(DeviceHealth.battery_level).label("battery_level"),
        _health(DeviceHealth.strap_state).label("strap_state"),
    ]
    return select(*columns)


def _status_clause(
    status: StatusFilter, alerts: Table | None, now: datetime
) -> ColumnElement[bool] | None:
    if status == StatusFilter.alerts:
        if alerts is None:
            return Subject.id.is_(None)
        return exists().where(_open_alerts(alerts))
    if status == StatusFilter.compliant:
        has_order = exists().where(
            Order.subject_id == Subject.id, Order.status == OrderStatus.active
        )
        if alerts is None:
            return has_order
        return and_(has_order, ~exists().where(_open_alerts(alerts)))
    if status == StatusFilter.device:
        return exists().where(
            DeviceHealth.subject_id == Subject.id,
            (DeviceHealth.last_seen_at < now - NOT_HEARD_FOR)
            | (DeviceHealth.battery_level < LOW_BATTERY),
        )
    if status == StatusFilter.review:
        return exists().where(
            Order.subject_id == Subject.id,
            Order.status == OrderStatus.active,
            Order.next_review_on <= (now + REVIEW_SOON).date(),
        )
    return None


def caseload(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    status: StatusFilter = StatusFilter.all,
    risk_level: str | None = None,
    reference: str | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> Page[CaseloadRow]:
    """One page of the viewer's caseload, filtered; ``reference`` finds one subject exactly."""
    require(principal, "subjects:read")
    alerts = alerts_table()
    query = _query(alerts)
    scope = caseload_filter(principal, Subject.caseload_team)
    if scope is not None:
        query = query.where(scope)
    clause = _status_clause(status, alerts, now)
    if clause is not None:
        query = query.where(clause)
    if risk_level:
        query = query.where(Subject.risk_level == risk_level)
    if reference:
        query = query.where(Subject.home_office_reference == reference.strip())
    if cursor:
        try:
            query = query.where(Subject.id > uuid.UUID(cursor))
        except ValueError as error:
            raise Invalid("cursor is not valid", field="cursor") from error
    rows = session.execute(query.order_by(Subject.id).limit(limit + 1)).all()
    items = [
        CaseloadRow(
            subject_id=row[0],
            reference=row[1],
            name=f"{row[2]} {row[3]}",
            risk_level=row[4],
            fictional=row[5],
            monitoring_mode=row[6],
            next_review_on=row[7],
            open_alerts=row[8] if alerts is not None else None,
            last_seen_at=row[9],
            battery_level=row[10],
            strap_state=row[11],
        )
        for row in rows[:limit]
    ]
    next_cursor = str(items[-1].subject_id) if len(rows) > limit else None
    audit.record(session, principal=principal, action="caseload.view", record_type="subject")
    return Page(items=items, next_cursor=next_cursor)
