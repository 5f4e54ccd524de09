"""Face enrolment: 1-3 photos through the quality gate into a template, stored encrypted.

The face work (decoding, quality gate, template) runs in the FacePool
(``faces.enrol_jpegs``); this module checks the request and stores the result:
the photos and the template as encrypted blobs (``enrolment_media``), with the
model version and the quality figures. A new enrolment supersedes the previous one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.principal import Principal
from openem.biometrics.templates import MAX_ENROLMENT_IMAGES
from openem.checkins.faces import is_jpeg
from openem.checkins.models import FaceEnrolment
from openem.crypto import store
from openem.crypto.envelope import KeyRing
from openem.errors import Invalid

ENROLMENT_CLASS = "enrolment_media"
TEMPLATE_MEDIA_TYPE = "application/vnd.openem.face-template"
MAX_PHOTO_BYTES = 4 * 1024 * 1024


class QualityRefused(Invalid):
    """Photos the quality gate refused; ``reasons`` per photo (machine-readable)."""

    def __init__(self, reasons: list[list[str]]) -> None:
        super().__init__("the quality gate refused the photos", field="photos")
        self.reasons = reasons


def check_photos(photos: list[bytes]) -> None:
    if not 1 <= len(photos) <= MAX_ENROLMENT_IMAGES:
        raise Invalid(f"send 1 to {MAX_ENROLMENT_IMAGES} photos", field="photos")
    for index, photo in enumerate(photos):
        if len(photo) > MAX_PHOTO_BYTES:
            raise Invalid(f"photo {index} is over {MAX_PHOTO_BYTES} bytes", field="photos")
        if not is_jpeg(photo):
            raise Invalid(f"photo {index} is not a JPEG", field="photos")


def refusals(result: dict[str, Any]) -> list[list[str]] | None:
    """Per-photo reasons when any photo failed the gate (then nothing is stored)."""
    reasons = [list(q["reasons"]) for q in result["quality"]]
    if result["template"] is None or any(not q["ok"] for q in result["quality"]):
        return reasons
    return None


def record_enrolment(
    session: Session, *, principal: Principal, subject_id: uuid.UUID, photos: list[bytes],
    result: dict[str, Any], now: datetime, keyring: KeyRing, data_dir: Path,
) -> FaceEnrolment:
    """Store photos and template encrypted; supersede the subject's previous enrolment."""
    from openem.checkins.submissions import plain

    reasons = refusals(result)
    if reasons is not None:
        raise QualityRefused(reasons)
    photo_blobs = [
        store.put(session, keyring=keyring, data_dir=data_dir, subject_id=subject_id,
                  data_class=ENROLMENT_CLASS, media_type="image/jpeg", plaintext=p, now=now)
        for p in photos
    ]
    template = store.put(session, keyring=keyring, data_dir=data_dir, subject_id=subject_id,
                         data_class=ENROLMENT_CLASS, media_type=TEMPLATE_MEDIA_TYPE,
                         plaintext=result["template"], now=now)
    for previous in session.scalars(_active(subject_id)):
        previous.superseded_at = now
    enrolment = FaceEnrolment(
        subject_id=subject_id, template_blob_id=template.id,
        photo_blob_ids=[str(b.id) for b in photo_blobs], model_version=result["model_version"],
        quality=plain(result["quality"]), enrolled_by=principal.user_id, created_at=now,
    )
    session.add(enrolment)
    session.flush()
    audit.record(session, principal=principal, action="checkins.enrol",
                 record_type="face_enrolment", record_id=enrolment.id, subject_id=subject_id)
    return enrolment


def _active(subject_id: uuid.UUID) -> Any:
    return select(FaceEnrolment).where(
        FaceEnrolment.subject_id == subject_id, FaceEnrolment.superseded_at.is_(None)
    )


def active_enrolment(session: Session, *, subject_id: uuid.UUID) -> FaceEnrolment | None:
    return session.scalars(_active(subject_id).order_by(FaceEnrolment.created_at.desc())).first()


def active_template(
    session: Session, *, subject_id: uuid.UUID, keyring: KeyRing, data_dir: Path
) -> bytes | None:
    """The subject's own template (decrypted), or None if not enrolled. One subject only."""
    enrolment = active_enrolment(session, subject_id=subject_id)
    if enrolment is None:
        return None
    record = session.get(store.BlobRecord, enrolment.template_blob_id)
    if record is None:
        return None
    return store.read(record, keyring=keyring, data_dir=data_dir)
