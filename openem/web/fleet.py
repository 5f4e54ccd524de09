"""The device fleet as the dashboard shows it: each device's state with its health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access.principal import Principal
from openem.devices import service as devices_service
from openem.devices.models import Device, DeviceHealth
from openem.pagination import Page

PAGE_SIZE = 50
LOW_BATTERY = 20
TAMPERED = {"opened", "cut"}


@dataclass(frozen=True)
class FleetRow:
    device: Device
    health: DeviceHealth | None

    def heard(self, now: datetime) -> str:
        """How long ago the device was last heard from, in words."""
        seen = self.health.last_seen_at if self.health else None
        return "never" if seen is None else f"{_span(now - seen)} ago"

    def warnings(self) -> list[str]:
        """What a technician should look at: tamper reported, taken off, a low battery."""
        health = self.health
        if health is None:
            return []
        found = [f"strap {health.strap_state}"] if health.strap_state in TAMPERED else []
        if health.case_state == "opened":
            found.append("case opened")
        if health.worn is False:
            found.append("not worn")
        if health.battery_level is not None and health.battery_level < LOW_BATTERY:
            found.append("low battery")
        return found


def fleet(
    session: Session,
    *,
    principal: Principal,
    state: str | None,
    kind: str | None,
    serial: str | None,
    cursor: str | None,
) -> Page[FleetRow]:
    """A page of devices (the API's listing and its permission), each with its health."""
    devices = devices_service.list_devices(
        session, principal=principal, state=state, kind=kind, serial=serial, cursor=cursor,
        limit=PAGE_SIZE,
    )
    ids = [device.id for device in devices.items]
    health = {
        row.device_id: row
        for row in session.scalars(select(DeviceHealth).where(DeviceHealth.device_id.in_(ids)))
    } if ids else {}
    rows = [FleetRow(device, health.get(device.id)) for device in devices.items]
    return Page(items=rows, next_cursor=devices.next_cursor)


def _span(elapsed: timedelta) -> str:
    minutes = max(0, int(elapsed.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} d"
