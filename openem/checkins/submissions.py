"""A device's answer to a prompt: checked, verified 1:1 (in the pool), stored, published.

Two transactions around the face work so no database connection is held while a worker
process decides: ``begin_attempt`` checks the prompt and loads the subject's template,
``record_attempt`` stores the frames (encrypted), the decision and, when the prompt is
settled, its outcome event.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.checkins import service
from openem.checkins.config import CheckinConfig
from openem.checkins.enrolment import active_template
from openem.checkins.faces import is_jpeg
from openem.checkins.models import CheckinDecision, CheckinPrompt, PromptStatus
from openem.crypto import store
from openem.crypto.envelope import KeyRing
from openem.devices.models import Device
from openem.devices.pairing import LiveDevice
from openem.errors import Conflict, DomainError, Invalid, NotFound

MAX_FRAME_BYTES = 1024 * 1024
CLOCK_SKEW = timedelta(minutes=1)
FRAMES_CLASS = "checkin_frames"


class FrameTooLarge(DomainError):
    status = 413
    title = "Content too large"


class Fix(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(None, ge=0, le=100_000)
    at: AwareDatetime | None = None


class SubmissionMeta(BaseModel):
    captured_at: AwareDatetime
    fix: Fix | None = None


@dataclass(frozen=True)
class Submission:
    frames: list[bytes]
    captured_at: datetime
    fix: dict[str, Any] | None


def _meta(raw: Any) -> SubmissionMeta:
    try:
        return SubmissionMeta.model_validate(raw)
    except ValidationError as error:
        raise Invalid("captured_at (with a time zone) and an optional fix are required",
                      field="captured_at") from error


def check_frames(frames: list[bytes]) -> None:
    if not service.MIN_FRAMES <= len(frames) <= service.MAX_FRAMES:
        raise Invalid(f"send {service.MIN_FRAMES} to {service.MAX_FRAMES} frames",
                      field="frames")
    for index, frame in enumerate(frames):
        if len(frame) > MAX_FRAME_BYTES:
            raise FrameTooLarge(f"frame {index} is over {MAX_FRAME_BYTES} bytes", field="frames")
        if not is_jpeg(frame):
            raise Invalid(f"frame {index} is not a JPEG", field="frames")


def submission(meta: Any, frames: list[bytes]) -> Submission:
    parsed = _meta(meta)
    check_frames(frames)
    fix = parsed.fix.model_dump(mode="json") if parsed.fix is not None else None
    return Submission(frames=frames, captured_at=parsed.captured_at, fix=fix)


def parse_json(body: bytes) -> Submission:
    """``{"captured_at", "fix", "frames": [base64 JPEG, ...]}``."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise Invalid("body is not valid JSON", field="body") from error
    encoded = raw.get("frames") if isinstance(raw, dict) else None
    if not isinstance(encoded, list) or not all(isinstance(f, str) for f in encoded):
        raise Invalid("frames must be a list of base64 JPEG strings", field="frames")
    if len(encoded) > service.MAX_FRAMES:
        raise Invalid(f"send {service.MIN_FRAMES} to {service.MAX_FRAMES} frames",
                      field="frames")
    try:
        frames = [base64.b64decode(f, validate=True) for f in encoded]
    except (ValueError, binascii.Error) as error:
        raise Invalid("frames must be base64", field="frames") from error
    return submission({k: v for k, v in raw.items() if k != "frames"}, frames)


@dataclass(frozen=True)
class Attempt:
    prompt_id: uuid.UUID
    subject_id: uuid.UUID
    number: int
    challenge: str
    template: bytes
    threshold: float


def _open_prompt(
    session: Session, *, device: Device | LiveDevice, prompt_id: uuid.UUID
) -> CheckinPrompt:
    prompt = session.get(CheckinPrompt, prompt_id, with_for_update=True)
    if prompt is None or prompt.device_id != device.id:
        raise NotFound("no such prompt for this device")
    return prompt


def begin_attempt(
    session: Session, *, device: Device | LiveDevice, prompt_id: uuid.UUID, captured_at: datetime,
    now: datetime, config: CheckinConfig, keyring: KeyRing, data_dir: Path,
) -> Attempt:
    """Check the prompt may take this attempt; the subject's template for the worker."""
    prompt = _open_prompt(session, device=device, prompt_id=prompt_id)
    if prompt.status in (PromptStatus.scheduled, PromptStatus.cancelled):
        raise Conflict("this prompt is not open")
    if prompt.status == PromptStatus.passed:
        raise Conflict("this prompt has already passed")
    if prompt.attempts >= service.MAX_ATTEMPTS:
        raise Conflict(f"no attempts left (at most {service.MAX_ATTEMPTS})")
    if captured_at > now + CLOCK_SKEW:
        raise Invalid("captured_at is in the future", field="captured_at")
    if captured_at < prompt.scheduled_at - CLOCK_SKEW or captured_at > prompt.expires_at:
        raise Conflict("captured outside the prompt's response window")
    if now > prompt.expires_at + config.late_upload:
        raise Conflict("this prompt's answers are no longer accepted")
    prompt.answered_at = prompt.answered_at or now  # so a fault after this is not "missed"
    template = active_template(session, subject_id=prompt.subject_id, keyring=keyring,
                               data_dir=data_dir)
    if template is None:
        raise Conflict("the subject has no face enrolment")
    return Attempt(prompt_id=prompt.id, subject_id=prompt.subject_id, number=prompt.attempts + 1,
                   challenge=prompt.challenge, template=template, threshold=config.threshold)


def plain(value: Any) -> Any:
    """JSON-safe copy (numpy scalars to floats, NaN to None)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | str | int) or value is None:
        return value
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def record_attempt(
    session: Session, *, device: Device | LiveDevice, attempt: Attempt, decision: dict[str, Any],
    submission: Submission, now: datetime, keyring: KeyRing, data_dir: Path,
) -> tuple[CheckinDecision, CheckinPrompt]:
    prompt = _open_prompt(session, device=device, prompt_id=attempt.prompt_id)
    if prompt.attempts + 1 != attempt.number or prompt.status == PromptStatus.passed:
        raise Conflict("another answer to this prompt was recorded meanwhile; send again")
    blobs = [
        store.put(session, keyring=keyring, data_dir=data_dir, subject_id=prompt.subject_id,
                  data_class=FRAMES_CLASS, media_type="image/jpeg", plaintext=frame, now=now)
        for frame in submission.frames
    ]
    row = CheckinDecision(
        prompt_id=prompt.id, subject_id=prompt.subject_id, attempt=attempt.number,
        outcome=str(decision["outcome"]), score=plain(decision["score"]),
        threshold=float(decision["threshold"]), model_version=str(decision["model_version"]),
        quality=plain(decision["quality"]), liveness=plain(decision["liveness"]),
        reasons=[str(r) for r in decision["reasons"]],
        frame_blob_ids=[str(b.id) for b in blobs], captured_at=submission.captured_at,
        received_at=now, fix=submission.fix,
    )
    session.add(row)
    prompt.attempts = attempt.number
    session.flush()
    _settle(session, prompt=prompt, decision=row, now=now)
    return row, prompt


def _settle(
    session: Session, *, prompt: CheckinPrompt, decision: CheckinDecision, now: datetime
) -> None:
    """Publish the prompt's outcome once it is known: a match, or the last attempt."""
    if decision.outcome == "match":
        service.close(session, prompt=prompt, outcome=PromptStatus.passed, reason=None,
                      decision_id=decision.id, at=decision.captured_at, now=now)
        return
    if prompt.attempts < service.MAX_ATTEMPTS:
        return
    outcomes = list(session.scalars(
        select(CheckinDecision.outcome).where(CheckinDecision.prompt_id == prompt.id)
    ))
    finding = next((o for o in ("liveness_failed", "no_match") if o in outcomes), None)
    if finding is not None:
        service.close(session, prompt=prompt, outcome=PromptStatus.failed, reason=finding,
                      decision_id=decision.id, at=decision.captured_at, now=now)
    else:
        service.close(session, prompt=prompt, outcome=PromptStatus.technical,
                      reason="no_usable_frames", decision_id=decision.id,
                      at=decision.captured_at, now=now)
