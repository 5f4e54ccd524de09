"""Check-in routes: the watch's answer to a prompt, enrolment, and the staff reads.

Routes are thin: read the body, authorise, call the services (in a worker thread, one
transaction each) and the face pool (a worker process), shape the answer.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import BrokenExecutor
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from openem.access.principal import Principal
from openem.access.purposes import Purpose
from openem.biometrics.templates import TemplateError
from openem.checkins import enrolment, reads, submissions
from openem.checkins.config import CheckinConfig
from openem.checkins.faces import BadImage, LazyFacePool, enrol_jpegs, verify_jpegs
from openem.checkins.schemas import DecisionOut, DeviceAnswer, EnrolmentOut
from openem.checkins.service import MAX_ATTEMPTS, MAX_FRAMES
from openem.config import Settings
from openem.crypto.envelope import KeyRing, load_keyring
from openem.db.base import utcnow
from openem.devices.models import Device
from openem.errors import Conflict, Invalid
from openem.http.deps import DbSession, requires, settings_of
from openem.http.problems import problem
from openem.ingest.auth import SignedRequest, signed_device
from openem.ingest.signatures import ReplayGuard
from openem.subjects.service import scoped_subject

device_router = APIRouter(prefix="/device/v1", tags=["device"])
router = APIRouter(prefix="/api/v1", tags=["checkins"])
ReadCheckins = Annotated[Principal, Depends(requires("checkins:read"))]
Enrol = Annotated[Principal, Depends(requires("checkins:enrol"))]
OpenHistory = Annotated[Principal, Depends(requires("history:open"))]
CHECKIN_PATH = "/device/v1/checkins/"
CHECKIN_BODY_LIMIT = 12 * 1024 * 1024  # 8 frames of 1 MiB, base64 in JSON, and the metadata
ENROLMENT_PATH = "/api/v1/subjects/*/enrolment"
ENROLMENT_BODY_LIMIT = 13 * 1024 * 1024


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def face_pool(request: Request) -> LazyFacePool:
    state = request.app.state
    pool: LazyFacePool | None = getattr(state, "face_pool", None)
    if pool is None:
        pool = state.face_pool = LazyFacePool(workers=settings_of(request).face_workers)
    return pool


def _replay_guard(request: Request) -> ReplayGuard:
    state = request.app.state
    guard: ReplayGuard | None = getattr(state, "checkin_replay_guard", None)
    if guard is None:
        guard = state.checkin_replay_guard = ReplayGuard()
    return guard


def _keyring(settings: Settings) -> KeyRing:
    return load_keyring(settings.key_file, create=True)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _files(request: Request, name: str, limit: int) -> tuple[dict[str, Any], list[bytes]]:
    async with request.form(max_files=limit + 1, max_fields=8) as form:  # closes temp files
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        files = [await v.read() for k, v in form.multi_items()
                 if k == name and isinstance(v, UploadFile)]
    return fields, files


def _in_transaction(sessions: sessionmaker[Session], work: Any) -> Any:
    with sessions() as session, session.begin():
        return work(session)


@device_router.post("/checkins/{prompt_id}", response_model=DeviceAnswer,
                    responses={409: {"description": "Prompt closed, no attempts left, or late"},
                               413: {"description": "A frame or the body is too large"}})
async def submit_checkin(prompt_id: uuid.UUID, request: Request) -> Any:
    """A signed burst of 3-8 JPEG frames (JSON with base64 ``frames``, or multipart with a
    ``metadata`` JSON field and ``frames`` files), the device's capture time and fix."""
    body = await request.body()
    signed = SignedRequest(method=request.method, path=request.url.path,
                           headers=dict(request.headers), body=body)
    media_type = _media_type(request)
    if media_type == "multipart/form-data":
        fields, frames = await _files(request, "frames", MAX_FRAMES)
        raw: bytes | tuple[str, list[bytes]] = (fields.get("metadata", ""), frames)
    elif media_type == "application/json":
        raw = body
    else:
        return problem(415, "Unsupported media type", "send application/json or multipart")
    settings, now, guard = settings_of(request), utcnow(), _replay_guard(request)
    config, keyring = CheckinConfig.from_settings(settings), _keyring(settings)

    def begin(session: Session) -> tuple[uuid.UUID, submissions.Submission, Any]:
        device = signed_device(session, request=signed, now=now, replay_guard=guard)
        submission = _parse(raw)
        attempt = submissions.begin_attempt(
            session, device=device, prompt_id=prompt_id, captured_at=submission.captured_at,
            now=now, config=config, keyring=keyring, data_dir=settings.data_dir,
        )
        return device.id, submission, attempt

    device_id, submission, attempt = await run_in_threadpool(
        _in_transaction, _sessions(request), begin
    )
    try:
        decision = await face_pool(request).run(
            verify_jpegs, attempt.template, submission.frames, attempt.challenge,
            attempt.threshold,
        )
    except BadImage as error:
        raise Invalid(str(error), field="frames") from error
    except TemplateError as error:
        raise Conflict("the enrolment was made with another model version: re-enrol") from error
    except BrokenExecutor:
        return problem(503, "Service unavailable", "face verification is restarting; send again")

    def record(session: Session) -> DeviceAnswer:
        device = session.get(Device, device_id)
        assert device is not None
        row, prompt = submissions.record_attempt(
            session, device=device, attempt=attempt, decision=decision, submission=submission,
            now=utcnow(), keyring=keyring, data_dir=settings.data_dir,
        )
        return DeviceAnswer(decision_id=row.id, attempt=row.attempt, outcome=row.outcome,
                            reasons=row.reasons, prompt_status=prompt.status,
                            attempts_left=max(0, MAX_ATTEMPTS - prompt.attempts))

    return await run_in_threadpool(_in_transaction, _sessions(request), record)


def _parse(raw: bytes | tuple[str, list[bytes]]) -> submissions.Submission:
    if isinstance(raw, bytes):
        return submissions.parse_json(raw)
    metadata, frames = raw
    try:
        meta = json.loads(metadata) if metadata else {}
    except ValueError as error:
        raise Invalid("metadata is not valid JSON", field="metadata") from error
    return submissions.submission(meta, frames)


@router.post("/subjects/{subject_id}/enrolment", response_model=EnrolmentOut, status_code=201,
             responses={422: {"description": "Photos refused by the quality gate, with reasons"}})
async def enrol(
    subject_id: uuid.UUID, request: Request, session: DbSession, principal: Enrol
) -> Any:
    """Enrol 1-3 JPEG photos (multipart, field ``photos``); replaces the previous enrolment.

    The request's transaction (opened by authentication) spans the face work, which runs in
    the pool; enrolment is rare, so holding it for a second or two is accepted."""
    if _media_type(request) != "multipart/form-data":
        return problem(415, "Unsupported media type", "send multipart/form-data")
    settings = settings_of(request)
    await run_in_threadpool(
        scoped_subject, session, principal=principal, subject_id=subject_id,
        action="checkins.enrol",
    )
    _, photos = await _files(request, "photos", 3)
    enrolment.check_photos(photos)
    try:
        result = await face_pool(request).run(
            enrol_jpegs, photos, settings.face_enrolment_jitters
        )
    except BadImage as error:
        raise Invalid(str(error).replace("frame", "photo"), field="photos") from error
    except BrokenExecutor:
        return problem(503, "Service unavailable", "face enrolment is restarting; send again")
    reasons = enrolment.refusals(result)
    if reasons is not None:
        errors = [{"field": f"photos[{i}]", "message": ", ".join(r) or "ok"}
                  for i, r in enumerate(reasons)]
        return problem(422, "Photos refused", "the quality gate refused the photos",
                       errors=errors, reasons=reasons)
    row = await run_in_threadpool(
        enrolment.record_enrolment, session, principal=principal, subject_id=subject_id,
        photos=photos, result=result, now=utcnow(), keyring=_keyring(settings),
        data_dir=Path(settings.data_dir),
    )
    return EnrolmentOut(id=row.id, subject_id=row.subject_id, model_version=row.model_version,
                        photos=len(row.photo_blob_ids), quality=row.quality,
                        created_at=row.created_at)


@router.get("/subjects/{subject_id}/checkins", response_model=list[DecisionOut])
def subject_checkins(
    subject_id: uuid.UUID, session: DbSession, principal: ReadCheckins,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DecisionOut]:
    """The subject's check-in decisions, newest first, with score, threshold, model version,
    quality and liveness. Frames are read one by one, for a stated purpose."""
    rows = reads.decisions_for_subject(session, principal=principal, subject_id=subject_id,
                                       limit=limit)
    return [
        DecisionOut(
            id=d.id, prompt_id=d.prompt_id, attempt=d.attempt, outcome=d.outcome, score=d.score,
            threshold=d.threshold, model_version=d.model_version, quality=d.quality,
            liveness=d.liveness, reasons=d.reasons, frames=len(d.frame_blob_ids),
            captured_at=d.captured_at, received_at=d.received_at, prompt_status=p.status,
            prompt_scheduled_at=p.scheduled_at, prompt_challenge=p.challenge,
        )
        for d, p in rows
    ]


@router.get("/checkins/{decision_id}/frames/{index}",
            responses={200: {"content": {"image/jpeg": {}}}})
def checkin_frame(
    decision_id: uuid.UUID, index: int, request: Request, session: DbSession,
    principal: OpenHistory, purpose: Purpose,
    purpose_detail: Annotated[str | None, Header(alias="X-Purpose-Detail", max_length=500)] = None,
) -> Response:
    """One frame of a decision. The purpose (detail as a header, never in the URL) is audited
    with the read; the policy decides as for a trail."""
    settings = settings_of(request)
    data = reads.frame(session, principal=principal, decision_id=decision_id, index=index,
                       purpose=purpose, detail=purpose_detail, now=utcnow(),
                       keyring=_keyring(settings), data_dir=settings.data_dir)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/subjects/{subject_id}/enrolment/photos/{index}",
            responses={200: {"content": {"image/jpeg": {}}}})
def enrolment_photo(
    subject_id: uuid.UUID, index: int, request: Request, session: DbSession,
    principal: OpenHistory, purpose: Purpose,
    purpose_detail: Annotated[str | None, Header(alias="X-Purpose-Detail", max_length=500)] = None,
) -> Response:
    """One photo of the subject's active enrolment, for a stated purpose (audited)."""
    settings = settings_of(request)
    data = reads.enrolment_photo(
        session, principal=principal, subject_id=subject_id, index=index, purpose=purpose,
        detail=purpose_detail, now=utcnow(), keyring=_keyring(settings),
        data_dir=settings.data_dir,
    )
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
