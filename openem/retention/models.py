"""Tables of the retention domain. None of them holds key material."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openem.db.base import Base, IdMixin


class LegalHold(IdMixin, Base):
    """Stops the purge of everything about one subject until released or expired."""

    __tablename__ = "legal_holds"

    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[uuid.UUID | None]
    placed_by_role: Mapped[str] = mapped_column(String(32))
    placed_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
    released_by: Mapped[uuid.UUID | None]


class DeletionCertificate(IdMixin, Base):
    """What one purge deleted: class, count, period, a hash of the ids. No personal data."""

    __tablename__ = "deletion_certificates"

    run_id: Mapped[uuid.UUID] = mapped_column(index=True)
    data_class: Mapped[str] = mapped_column(String(32), index=True)
    count: Mapped[int]
    retention_days: Mapped[int]
    event: Mapped[str] = mapped_column(String(32))
    cutoff: Mapped[datetime]
    ids_sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime]


class BusPurge(Base):
    """A bus subject whose retained messages must go; drained after the rows are deleted."""

    __tablename__ = "bus_purges"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    bus_subject: Mapped[str] = mapped_column(String(128))
    subject_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime]


class JobLease(Base):
    """Which process runs a periodic job: one row per job, held until it expires."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None]


class RightsRequestKind(StrEnum):
    rectification = "rectification"
    restriction = "restriction"


class RightsRequestStatus(StrEnum):
    open = "open"
    done = "done"
    refused = "refused"
    lifted = "lifted"


class RightsRequest(IdMixin, Base):
    """A subject's request to correct their data or to restrict its processing."""

    __tablename__ = "rights_requests"

    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=RightsRequestStatus.open)
    received_at: Mapped[datetime]
    recorded_by: Mapped[uuid.UUID | None]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[uuid.UUID | None]
    outcome: Mapped[str | None] = mapped_column(Text)


class PrivacyNotice(IdMixin, Base):
    """A privacy notice sent to a wearer's device; delivery and ack live on the inbox item."""

    __tablename__ = "privacy_notices"

    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"))
    inbox_item_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), ForeignKey("device_inbox.id")
    )
    language: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime]
