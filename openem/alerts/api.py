"""Staff API: the alert queue, each alert's lifecycle, evidence and the live stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from openem.access import audit
from openem.access.principal import Principal
from openem.alerts import service
from openem.alerts.evidence import alert_geojson
from openem.alerts.models import Alert, AlertStatus
from openem.alerts.schemas import AlertDetailOut, AlertOut, AssignIn, ResolveIn
from openem.alerts.stream import KEEPALIVE_S, AlertHub, sse
from openem.alerts.types import AlertClass
from openem.db.base import utcnow
from openem.http.deps import DbSession, requires
from openem.http.schemas import PageOut
from openem.pagination import Page

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
ReadAlerts = Annotated[Principal, Depends(requires("alerts:read"))]
ActOnAlerts = Annotated[Principal, Depends(requires("alerts:act"))]
ResolveAlerts = Annotated[Principal, Depends(requires("alerts:resolve"))]


@router.get("", response_model=PageOut[AlertOut])
def list_alerts(
    session: DbSession,
    principal: ReadAlerts,
    status: AlertStatus | None = None,
    subject_id: uuid.UUID | None = None,
    alert_class: AlertClass | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[Alert]:
    return service.list_alerts(
        session, principal=principal, status=status, subject_id=subject_id,
        alert_class=alert_class, cursor=cursor, limit=limit,
    )


@router.get("/stream", response_class=StreamingResponse)
async def stream(request: Request, session: DbSession, principal: ReadAlerts) -> StreamingResponse:
    """Server-sent events: ``alert`` for every change to an alert the caller may see."""
    audit.record(session, principal=principal, action="alert.stream", record_type="alert")
    hub: AlertHub = request.app.state.alert_hub

    async def events() -> AsyncIterator[str]:
        async with hub.subscribe(principal) as subscriber:
            yield ": subscribed\n\n"
            while not await request.is_disconnected():
                try:
                    payload = await asyncio.wait_for(subscriber.queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if payload is None:
                    yield sse("lagging", {"detail": "reconnect and reload the list"})
                    return
                yield sse("alert", payload, event_id=payload["event_id"])

    return StreamingResponse(
        events(), media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/{alert_id}", response_model=AlertDetailOut)
def get_alert(alert_id: uuid.UUID, session: DbSession, principal: ReadAlerts) -> dict[str, Any]:
    alert = service.get_alert(session, principal=principal, alert_id=alert_id)
    return _detail(session, alert)


@router.get("/{alert_id}/evidence.geojson")
def alert_evidence(alert_id: uuid.UUID, session: DbSession, principal: ReadAlerts) -> JSONResponse:
    """The fixes behind the alert as a track, with the zone as it was when it was raised."""
    alert = service.get_alert(session, principal=principal, alert_id=alert_id)
    return JSONResponse(alert_geojson(session, principal=principal, alert=alert),
                        media_type="application/geo+json")


@router.post("/{alert_id}/acknowledge", response_model=AlertDetailOut)
def acknowledge(alert_id: uuid.UUID, session: DbSession, principal: ActOnAlerts) -> dict[str, Any]:
    alert = service.acknowledge(session, principal=principal, alert_id=alert_id, now=utcnow())
    return _detail(session, alert)


@router.post("/{alert_id}/assign", response_model=AlertDetailOut)
def assign(
    alert_id: uuid.UUID, data: AssignIn, session: DbSession, principal: ActOnAlerts
) -> dict[str, Any]:
    alert = service.assign(session, principal=principal, alert_id=alert_id,
                           user_id=data.user_id, now=utcnow())
    return _detail(session, alert)


@router.post("/{alert_id}/resolve", response_model=AlertDetailOut)
def resolve(
    alert_id: uuid.UUID, data: ResolveIn, session: DbSession, principal: ResolveAlerts
) -> dict[str, Any]:
    alert = service.resolve(session, principal=principal, alert_id=alert_id,
                            outcome=data.outcome, note=data.note, now=utcnow())
    return _detail(session, alert)


def _detail(session: DbSession, alert: Alert) -> dict[str, Any]:
    return AlertOut.model_validate(alert).model_dump() | {
        "evidence": service.evidence_of(session, alert=alert),
        "events": service.events_of(session, alert=alert),
    }
