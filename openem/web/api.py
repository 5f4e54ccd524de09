"""Dashboard pages. Thin: authorise through the policy (``page``), call a service, render.

Pages live outside ``/api/`` and out of the OpenAPI schema. Nothing personal goes into
a URL: pages link by subject id (a UUID) and search by reference through a POST body.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import AwareDatetime

from openem.access import audit, breakglass, trail
from openem.db.base import utcnow
from openem.devices.models import DeviceState
from openem.devices.schemas import SERIAL_PREFIX
from openem.disclosures import service as disclosures_service
from openem.http.deps import DbSession
from openem.subjects.models import DeviceKind, RiskLevel
from openem.web import caseload as caseload_service
from openem.web.caseload import StatusFilter
from openem.web.deps import AnyViewer, BlankIsNone, Viewer, check_csrf, page
from openem.web.fleet import fleet
from openem.web.render import home_for, render
from openem.web.subject_view import subject_view

router = APIRouter(include_in_schema=False)

CaseloadViewer = Annotated[Viewer, Depends(page("subjects:read"))]
ZonesViewer = Annotated[Viewer, Depends(page("zones:read"))]
AlertsViewer = Annotated[Viewer, Depends(page("alerts:read"))]
RequestsViewer = Annotated[Viewer, Depends(page("police_requests:read"))]
AuditViewer = Annotated[Viewer, Depends(page("audit:read"))]
ReviewsViewer = Annotated[Viewer, Depends(page("reviews:read"))]
DevicesViewer = Annotated[Viewer, Depends(page("devices:read"))]


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    oidc = request.app.state.settings.oidc_enabled
    totp_after_oidc = oidc and request.query_params.get("oidc") == "totp"
    return render(request, None, "login.html", oidc=oidc, totp_after_oidc=totp_after_oidc)


@router.get("/totp-setup")
def totp_setup_page(request: Request, viewer: AnyViewer) -> Response:
    if viewer.password_change_required:
        return RedirectResponse("/account", status_code=303)
    if not viewer.totp_setup_required:
        return RedirectResponse("/", status_code=303)
    return render(request, viewer, "totp_setup.html")


@router.get("/account")
def account_page(request: Request, viewer: AnyViewer) -> HTMLResponse:
    return render(request, viewer, "account.html")


@router.get("/")
def home(viewer: AnyViewer) -> RedirectResponse:
    if viewer.password_change_required:
        return RedirectResponse("/account", status_code=303)
    if viewer.totp_setup_required:
        return RedirectResponse("/totp-setup", status_code=303)
    return RedirectResponse(home_for(viewer), status_code=303)


def _caseload(
    request: Request,
    session: DbSession,
    viewer: Viewer,
    *,
    status: StatusFilter,
    risk: RiskLevel | None,
    cursor: str | None,
    reference: str | None,
) -> HTMLResponse:
    now = utcnow()
    result = caseload_service.caseload(
        session,
        principal=viewer.principal,
        now=now,
        status=status,
        risk_level=risk,
        reference=reference,
        cursor=cursor,
    )
    return render(
        request,
        viewer,
        "caseload.html",
        page=result,
        now=now,
        today=now.date(),
        status=status,
        risk=risk,
        statuses=list(StatusFilter),
        risks=list(RiskLevel),
        searched=reference is not None,
        alerts_installed=caseload_service.alerts_table() is not None,
    )


@router.get("/caseload")
def caseload_page(
    request: Request,
    session: DbSession,
    viewer: CaseloadViewer,
    status: StatusFilter = StatusFilter.all,
    risk: Annotated[RiskLevel | None, BlankIsNone] = None,
    cursor: str | None = None,
) -> HTMLResponse:
    return _caseload(
        request, session, viewer, status=status, risk=risk, cursor=cursor, reference=None
    )


@router.post("/caseload")
def caseload_search(
    request: Request,
    session: DbSession,
    viewer: CaseloadViewer,
    reference: Annotated[str, Form(min_length=1, max_length=32)],
    csrf_token: Annotated[str | None, Form()] = None,
) -> HTMLResponse:
    """Search by reference: the reference travels in the POST body, never in a URL."""
    check_csrf(viewer, csrf_token)
    return _caseload(
        request,
        session,
        viewer,
        status=StatusFilter.all,
        risk=None,
        cursor=None,
        reference=reference,
    )



@router.get("/devices")
def devices_page(
    request: Request,
    session: DbSession,
    viewer: DevicesViewer,
    state: Annotated[DeviceState | None, BlankIsNone] = None,
    kind: Annotated[DeviceKind | None, BlankIsNone] = None,
    serial: Annotated[str | None, Query(max_length=64, pattern=SERIAL_PREFIX), BlankIsNone] = None,
    cursor: str | None = None,
) -> HTMLResponse:
    result = fleet(session, principal=viewer.principal, state=state, kind=kind, serial=serial,
                   cursor=cursor)
    return render(
        request,
        viewer,
        "devices.html",
        page=result,
        now=utcnow(),
        state=state,
        kind=kind,
        serial=serial or "",
        states=list(DeviceState),
        kinds=list(DeviceKind),
        can_write=viewer.may("devices:write"),
        removal_leeway_minutes=request.app.state.settings.rules_removal_leeway_minutes,
    )


@router.get("/subjects/{subject_id}")
def subject_page(
    request: Request, subject_id: uuid.UUID, session: DbSession, viewer: CaseloadViewer
) -> HTMLResponse:
    view = subject_view(session, principal=viewer.principal, subject_id=subject_id)
    return render(request, viewer, "subject.html", view=view, now=utcnow())


@router.get("/subjects/{subject_id}/zones")
def zones_page(
    request: Request, subject_id: uuid.UUID, session: DbSession, viewer: ZonesViewer
) -> HTMLResponse:
    view = subject_view(session, principal=viewer.principal, subject_id=subject_id)
    return render(request, viewer, "zones.html", view=view)


@router.get("/alerts")
def alerts_page(request: Request, viewer: AlertsViewer) -> HTMLResponse:
    return render(request, viewer, "alerts.html")


@router.get("/police-requests")
def police_requests_page(
    request: Request, session: DbSession, viewer: RequestsViewer, cursor: str | None = None
) -> HTMLResponse:
    result = disclosures_service.list_requests(
        session, principal=viewer.principal, status=None, cursor=cursor, limit=50
    )
    return render(request, viewer, "police_requests.html", page=result)


@router.get("/audit")
def audit_page(
    request: Request,
    session: DbSession,
    viewer: AuditViewer,
    actor_id: Annotated[uuid.UUID | None, BlankIsNone] = None,
    subject_id: Annotated[uuid.UUID | None, BlankIsNone] = None,
    since: Annotated[AwareDatetime | None, BlankIsNone] = None,
    until: Annotated[AwareDatetime | None, BlankIsNone] = None,
    outcome: Annotated[audit.Outcome | None, BlankIsNone] = None,
    cursor: str | None = None,
) -> HTMLResponse:
    query = audit.AuditQuery(
        actor_id=actor_id, subject_id=subject_id, since=since, until=until, outcome=outcome
    )
    result = trail.search(session, principal=viewer.principal, query=query, cursor=cursor,
                          limit=100)
    return render(
        request, viewer, "audit.html", page=result, query=query, outcomes=list(audit.Outcome)
    )


@router.get("/reviews")
def reviews_page(
    request: Request, session: DbSession, viewer: ReviewsViewer, cursor: str | None = None
) -> HTMLResponse:
    result = breakglass.list_reviews(
        session, principal=viewer.principal, status=None, cursor=cursor, limit=50
    )
    return render(request, viewer, "reviews.html", page=result)
