"""Police requests, the grants that answer them, and the disclosure register."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openem.db.base import Base, IdMixin


class RequestKind(StrEnum):
    subject = "subject"
    location = "location"


class RequestStatus(StrEnum):
    pending = "pending"
    granted = "granted"
    refused = "refused"


class DisclosedClass(StrEnum):
    """What a grant can cover. ``presence`` is the answer to a location inquiry."""

    profile = "profile"
    orders = "orders"
    location_history = "location_history"
    presence = "presence"


class PoliceRequest(IdMixin, Base):
    __tablename__ = "police_requests"

    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.pending, index=True)
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    requester_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    # A subject request names the subject by a reference the police hold (PNC ID or Home
    # Office reference); it is resolved for the approver and never echoed to the requester.
    subject_reference: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subjects.id"), index=True)
    data_classes: Mapped[str] = mapped_column(String(200))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    radius_m: Mapped[int | None] = mapped_column(Integer)
    crime_reference: Mapped[str] = mapped_column(String(64))
    legal_basis: Mapped[str] = mapped_column(String(200))
    justification: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    refusal_reason: Mapped[str | None] = mapped_column(Text)


class Grant(IdMixin, Base):
    """Permission to disclose what one request asked for, to its requester, until expiry."""

    __tablename__ = "grants"

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("police_requests.id"), unique=True)
    grantee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    grantee_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    approver_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    subject_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subjects.id"))
    data_classes: Mapped[str] = mapped_column(String(200))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    granted_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
    conditions: Mapped[str | None] = mapped_column(Text)


class Disclosure(IdMixin, Base):
    """The disclosure register: one row per disclosure made under a grant."""

    __tablename__ = "disclosures"

    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("grants.id"), index=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("police_requests.id"))
    subject_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    data_class: Mapped[str] = mapped_column(String(32))
    record_count: Mapped[int] = mapped_column(default=0)
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    recipient_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    approver_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    legal_basis: Mapped[str] = mapped_column(String(200))
    crime_reference: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    disclosed_at: Mapped[datetime] = mapped_column(index=True)
