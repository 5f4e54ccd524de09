"""Organisations, staff users, API tokens and the audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openem.db.base import Base, IdMixin, TimestampMixin, utcnow


class OrganisationKind(StrEnum):
    home_office = "home_office"
    moj = "moj"
    police = "police"
    supplier = "supplier"
    other = "other"


class Role(StrEnum):
    caseworker = "caseworker"
    operator = "operator"
    supervisor = "supervisor"
    police = "police"
    approver = "approver"
    auditor = "auditor"
    admin = "admin"


class Organisation(IdMixin, TimestampMixin, Base):
    __tablename__ = "organisations"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    team: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Set by an administrator's reset: the account's sessions may only change it.
    password_change_required: Mapped[bool] = mapped_column(default=False,
                                                           server_default=false())
    # Sealed (openem.access.totp): about 180 characters; a secret in the clear is 32.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_enabled_at: Mapped[datetime | None]
    totp_last_counter: Mapped[int | None] = mapped_column(BigInteger)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class ApiToken(IdMixin, Base):
    __tablename__ = "api_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class StaffSession(IdMixin, Base):
    """A dashboard login. The cookie carries a random secret; only its SHA-256 is stored."""

    __tablename__ = "staff_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    mfa_done: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    source: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User] = relationship(lazy="joined")


class ReviewTask(IdMixin, Base):
    """Work for a supervisor: every break-glass access is reviewed after the fact."""

    __tablename__ = "review_tasks"

    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    actor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    data_class: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_at: Mapped[datetime]
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """Append-only and hash-chained: one row per read or write of personal data, and per
    refusal. ``seq`` is assigned by the chain (openem.access.chain), never by the database."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_subject_at", "subject_id", "at"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    actor_role: Mapped[str | None] = mapped_column(String(32))
    actor_organisation_id: Mapped[uuid.UUID | None]
    action: Mapped[str] = mapped_column(String(64))
    record_type: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str | None] = mapped_column(String(64))
    subject_id: Mapped[uuid.UUID | None]
    purpose: Mapped[str | None] = mapped_column(String(64))
    purpose_detail: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16), default="allowed")
    source: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditAnchor(Base):
    """Where the chain starts after retention removed its oldest entries: the last removed
    entry's seq and hash, so `openem audit verify` still checks the first remaining one."""

    __tablename__ = "audit_anchor"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    truncated_at: Mapped[datetime]


class AuditTruncation(Base):
    """Present only inside the retention transaction that removes the chain's oldest entries;
    the SQLite append-only trigger lets a DELETE through only while a row exists."""

    __tablename__ = "audit_truncations"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
