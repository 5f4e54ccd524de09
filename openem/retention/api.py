"""Staff API: retention schedules, certificates, legal holds, subject access, rights, notices."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from openem.access.principal import Principal
from openem.config import Settings
from openem.crypto.envelope import KeyFileError, KeyRing, load_keyring
from openem.db.base import utcnow
from openem.http.deps import DbSession, requires
from openem.retention import certificates, holds, notices, rights, sar
from openem.retention.models import DeletionCertificate, LegalHold, RightsRequest
from openem.retention.schedules import schedules_from_settings
from openem.retention.schemas import (
    CertificateOut,
    HoldCreate,
    HoldOut,
    NoticeOut,
    RightsRequestClose,
    RightsRequestCreate,
    RightsRequestOut,
    ScheduleOut,
)

router = APIRouter(prefix="/api/v1", tags=["data protection"])

ReadRetention = Annotated[Principal, Depends(requires("retention:read"))]
ReadHolds = Annotated[Principal, Depends(requires("holds:read"))]
WriteHolds = Annotated[Principal, Depends(requires("holds:write"))]
ExportSar = Annotated[Principal, Depends(requires("sar:export"))]
ReadRights = Annotated[Principal, Depends(requires("rights:read"))]
WriteRights = Annotated[Principal, Depends(requires("rights:write"))]
ReadNotices = Annotated[Principal, Depends(requires("notices:read"))]
WriteNotices = Annotated[Principal, Depends(requires("notices:write"))]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _keyring(settings: Settings) -> KeyRing | None:
    try:
        return load_keyring(settings.key_file)
    except KeyFileError:
        return None


@router.get("/retention/schedules", response_model=list[ScheduleOut])
def list_schedules(request: Request, principal: ReadRetention) -> list[ScheduleOut]:
    schedules = schedules_from_settings(_settings(request))
    return [ScheduleOut(**s.__dict__) for s in schedules.values()]


@router.get("/retention/certificates", response_model=list[CertificateOut])
def list_certificates(
    session: DbSession, principal: ReadRetention
) -> Sequence[DeletionCertificate]:
    return certificates.list_certificates(session, principal=principal)


@router.get("/retention/holds", response_model=list[HoldOut])
def list_holds(
    session: DbSession, principal: ReadHolds, in_force_only: bool = True
) -> Sequence[LegalHold]:
    return holds.list_holds(session, principal=principal, now=utcnow(), in_force_only=in_force_only)


@router.post("/subjects/{subject_id}/holds", status_code=201, response_model=HoldOut)
def place_hold(
    subject_id: uuid.UUID, data: HoldCreate, session: DbSession, principal: WriteHolds
) -> LegalHold:
    return holds.place_hold(
        session,
        principal=principal,
        subject_id=subject_id,
        reason=data.reason,
        expires_at=data.expires_at,
        now=utcnow(),
    )


@router.post("/retention/holds/{hold_id}/release", response_model=HoldOut)
def release_hold(hold_id: uuid.UUID, session: DbSession, principal: WriteHolds) -> LegalHold:
    return holds.release_hold(session, principal=principal, hold_id=hold_id, now=utcnow())


@router.post(
    "/subjects/{subject_id}/access-export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The archive"}},
)
def export_subject_access(
    subject_id: uuid.UUID, request: Request, session: DbSession, principal: ExportSar
) -> Response:
    settings = _settings(request)
    archive = sar.export(
        session,
        principal=principal,
        subject_id=subject_id,
        now=utcnow(),
        data_dir=settings.data_dir,
        keyring=_keyring(settings),
        schedules=schedules_from_settings(settings),
    )
    return Response(
        archive.content,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{archive.filename}"'},
    )


@router.post(
    "/subjects/{subject_id}/rights-requests", status_code=201, response_model=RightsRequestOut
)
def record_rights_request(
    subject_id: uuid.UUID, data: RightsRequestCreate, session: DbSession, principal: WriteRights
) -> RightsRequest:
    return rights.record_request(
        session,
        principal=principal,
        subject_id=subject_id,
        kind=data.kind,
        detail=data.detail,
        now=utcnow(),
    )


@router.get("/rights-requests", response_model=list[RightsRequestOut])
def list_rights_requests(
    session: DbSession,
    principal: ReadRights,
    subject_id: uuid.UUID | None = None,
    open_only: bool = True,
) -> Sequence[RightsRequest]:
    return rights.list_requests(
        session, principal=principal, subject_id=subject_id, open_only=open_only
    )


@router.post("/rights-requests/{request_id}/close", response_model=RightsRequestOut)
def close_rights_request(
    request_id: uuid.UUID, data: RightsRequestClose, session: DbSession, principal: WriteRights
) -> RightsRequest:
    return rights.close_request(
        session,
        principal=principal,
        request_id=request_id,
        status=data.status,
        outcome=data.outcome,
        now=utcnow(),
    )


@router.post(
    "/subjects/{subject_id}/privacy-notices", status_code=201, response_model=list[NoticeOut]
)
def send_privacy_notice(
    subject_id: uuid.UUID, request: Request, session: DbSession, principal: WriteNotices
) -> list[notices.NoticeStatus]:
    now = utcnow()
    notices.send_on_request(
        session,
        principal=principal,
        subject_id=subject_id,
        now=now,
        schedules=schedules_from_settings(_settings(request)),
    )
    return notices.list_notices(session, principal=principal, subject_id=subject_id)


@router.get("/subjects/{subject_id}/privacy-notices", response_model=list[NoticeOut])
def list_privacy_notices(
    subject_id: uuid.UUID, session: DbSession, principal: ReadNotices
) -> list[notices.NoticeStatus]:
    return notices.list_notices(session, principal=principal, subject_id=subject_id)
