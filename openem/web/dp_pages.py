"""Data-protection pages: retention and legal holds, subject access export, order reviews
due, and the latest bias report. Thin like the other pages: the policy decides through
``page(permission)``, the retention and proportionality services do the work (and audit).

Forms post with the session's CSRF token; subject ids travel in the POST body, never in
a URL. Each change redirects back to its page (post/redirect/get).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from openem.access.models import User
from openem.config import Settings
from openem.crypto.envelope import KeyFileError, KeyRing, load_keyring
from openem.db.base import utcnow
from openem.http.deps import DbSession
from openem.retention import certificates, holds, sar
from openem.retention.schedules import schedules_from_settings
from openem.subjects import reviews
from openem.subjects.models import MonitoringMode, ReviewDecision
from openem.web.bias import latest_report
from openem.web.deps import Viewer, check_csrf, page
from openem.web.render import render

router = APIRouter(include_in_schema=False)

RetentionViewer = Annotated[Viewer, Depends(page("retention:read"))]
HoldsWriter = Annotated[Viewer, Depends(page("holds:write"))]
SarExporter = Annotated[Viewer, Depends(page("sar:export"))]
ReviewsReader = Annotated[Viewer, Depends(page("proportionality:read"))]
ReviewsWriter = Annotated[Viewer, Depends(page("proportionality:write"))]
ReportsViewer = Annotated[Viewer, Depends(page("reports:read"))]
Csrf = Annotated[str | None, Form()]
UPCOMING_DAYS = 30
CERTIFICATES_SHOWN = 20


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _keyring(settings: Settings) -> KeyRing | None:
    try:
        return load_keyring(settings.key_file)
    except KeyFileError:
        return None


def _names(session: DbSession, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {row.id: row.display_name for row in rows}


# --- retention and legal holds ------------------------------------------------------------


@router.get("/retention")
def retention_page(request: Request, session: DbSession, viewer: RetentionViewer) -> HTMLResponse:
    now = utcnow()
    schedules = schedules_from_settings(_settings(request)).values()
    issued = certificates.list_certificates(
        session, principal=viewer.principal, limit=CERTIFICATES_SHOWN
    )
    in_force = (
        holds.list_holds(session, principal=viewer.principal, now=now)
        if viewer.may("holds:read")
        else []
    )
    return render(
        request,
        viewer,
        "retention.html",
        schedules=schedules,
        certificates=issued,
        holds=in_force,
        names=_names(session, {h.placed_by for h in in_force}),
        today=now.date(),
    )


@router.post("/retention/holds")
def place_hold(
    session: DbSession,
    viewer: HoldsWriter,
    subject_id: Annotated[uuid.UUID, Form()],
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
    expires_on: Annotated[date, Form()],
    csrf_token: Csrf = None,
) -> RedirectResponse:
    check_csrf(viewer, csrf_token)
    holds.place_hold(
        session,
        principal=viewer.principal,
        subject_id=subject_id,
        reason=reason,
        expires_at=datetime.combine(expires_on, time.max, UTC),
        now=utcnow(),
    )
    return RedirectResponse("/retention?done=placed", status_code=303)


@router.post("/retention/holds/release")
def release_hold(
    session: DbSession,
    viewer: HoldsWriter,
    hold_id: Annotated[uuid.UUID, Form()],
    csrf_token: Csrf = None,
) -> RedirectResponse:
    check_csrf(viewer, csrf_token)
    holds.release_hold(session, principal=viewer.principal, hold_id=hold_id, now=utcnow())
    return RedirectResponse("/retention?done=released", status_code=303)


@router.post("/retention/subject-access")
def subject_access_export(
    request: Request,
    session: DbSession,
    viewer: SarExporter,
    subject_id: Annotated[uuid.UUID, Form()],
    csrf_token: Csrf = None,
) -> Response:
    """The subject-access zip as a download; the subject id came in the POST body."""
    check_csrf(viewer, csrf_token)
    settings = _settings(request)
    archive = sar.export(
        session,
        principal=viewer.principal,
        subject_id=subject_id,
        now=utcnow(),
        data_dir=settings.data_dir,
        keyring=_keyring(settings),
        schedules=schedules_from_settings(settings),
    )
    return Response(
        archive.content,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{archive.filename}"',
            "Cache-Control": "no-store",
        },
    )


# --- proportionality reviews due ------------------------------------------------------------


@router.get("/order-reviews")
def order_reviews_page(request: Request, session: DbSession, viewer: ReviewsReader) -> HTMLResponse:
    today = utcnow().date()
    principal = viewer.principal
    return render(
        request,
        viewer,
        "order_reviews.html",
        overdue=reviews.overdue(session, principal=principal, today=today),
        upcoming=reviews.upcoming(session, principal=principal, today=today, days=UPCOMING_DAYS),
        escalations=reviews.escalations(session, principal=principal),
        today=today,
        upcoming_days=UPCOMING_DAYS,
        decisions=list(ReviewDecision),
        modes=list(MonitoringMode),
    )


@router.post("/order-reviews/decision")
def record_review_decision(
    session: DbSession,
    viewer: ReviewsWriter,
    order_id: Annotated[uuid.UUID, Form()],
    decision: Annotated[ReviewDecision, Form()],
    reasons: Annotated[str, Form(min_length=1, max_length=4000)],
    monitoring_mode: Annotated[MonitoringMode | None, Form()] = None,
    checkins_per_day: Annotated[int | None, Form(ge=1, le=24)] = None,
    next_review_on: Annotated[date | None, Form()] = None,
    csrf_token: Csrf = None,
) -> RedirectResponse:
    check_csrf(viewer, csrf_token)
    reviews.record_review(
        session,
        principal=viewer.principal,
        order_id=order_id,
        decision=decision,
        reasons=reasons,
        now=utcnow(),
        monitoring_mode=monitoring_mode,
        checkins_per_day=checkins_per_day,
        next_review_on=next_review_on,
    )
    return RedirectResponse("/order-reviews?done=recorded", status_code=303)


# --- bias report -------------------------------------------------------------------------


@router.get("/bias")
def bias_page(request: Request, viewer: ReportsViewer) -> HTMLResponse:
    report = latest_report(_settings(request).data_dir)
    modified = None if report is None else datetime.fromtimestamp(report.modified, UTC)
    return render(request, viewer, "bias.html", report=report, modified=modified)
