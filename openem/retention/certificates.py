"""Deletion certificates: written with the deletion, in the same transaction, to the audit trail."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.policy import require
from openem.access.principal import SYSTEM, Principal
from openem.retention.models import DeletionCertificate
from openem.retention.schedules import Schedule

CERTIFICATE_ACTION = "retention.purge"


def ids_hash(ids: Sequence[str]) -> str:
    """SHA-256 of the sorted identifiers, one a line: proves what went, reveals nothing."""
    digest = hashlib.sha256()
    for identifier in sorted(ids):
        digest.update(identifier.encode() + b"\n")
    return digest.hexdigest()


def issue(
    session: Session,
    *,
    run_id: uuid.UUID,
    schedule: Schedule,
    ids: Sequence[str],
    now: datetime,
) -> DeletionCertificate:
    certificate = DeletionCertificate(
        run_id=run_id,
        data_class=schedule.data_class,
        count=len(ids),
        retention_days=schedule.days,
        event=schedule.event,
        cutoff=schedule.cutoff(now),
        ids_sha256=ids_hash(ids),
        issued_at=now,
    )
    session.add(certificate)
    session.flush()
    entry = audit.record(
        session,
        principal=SYSTEM,
        action=CERTIFICATE_ACTION,
        record_type="deletion_certificate",
        record_id=certificate.id,
        purpose_detail=json.dumps(as_dict(certificate), sort_keys=True),
    )
    entry.at = now
    return certificate


def as_dict(certificate: DeletionCertificate) -> dict[str, object]:
    return {
        "id": str(certificate.id),
        "run_id": str(certificate.run_id),
        "data_class": certificate.data_class,
        "count": certificate.count,
        "retention_days": certificate.retention_days,
        "event": certificate.event,
        "cutoff": certificate.cutoff.isoformat(),
        "ids_sha256": certificate.ids_sha256,
        "issued_at": certificate.issued_at.isoformat(),
    }


def list_certificates(
    session: Session, *, principal: Principal, limit: int = 100
) -> Sequence[DeletionCertificate]:
    require(principal, "retention:read")
    query = select(DeletionCertificate).order_by(DeletionCertificate.issued_at.desc()).limit(limit)
    return session.scalars(query).all()
