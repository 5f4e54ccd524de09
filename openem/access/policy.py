"""The one place that decides who may do what. Deny by default.

Three layers, all declared here and nowhere else:

1. ``PERMISSIONS``: which roles may use a permission. Every staff route declares
   one permission (``openem.http.deps.requires``); a permission missing from the
   table is held by nobody.
2. Record scope: ``may_read_subject`` / ``caseload_filter`` (case workers see
   their team's caseload; police see no subject outside a grant).
3. History: ``may_read_history`` decides on a subject's location history,
   check-in photos and frames, given a stated purpose or an alert's evidence.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, false

from openem.access.models import OrganisationKind, Role
from openem.access.principal import Principal
from openem.errors import Forbidden

R = Role
ALL_STAFF = frozenset(Role)
ANYONE = "anyone"

PERMISSIONS: dict[str, frozenset[str]] = {
    # sign-in and one's own account (TOTP, API tokens)
    "session:create": frozenset({ANYONE}),
    "account:self": ALL_STAFF,
    "tokens:own": ALL_STAFF,
    # organisations and staff
    "organisations:read": frozenset({R.admin, R.supervisor, R.auditor}),
    "organisations:write": frozenset({R.admin}),
    "users:read": frozenset({R.admin, R.supervisor, R.auditor}),
    "users:write": frozenset({R.admin}),
    # subjects and orders (current status); scope narrows case workers to their caseload
    "subjects:read": frozenset({R.caseworker, R.operator, R.supervisor}),
    "subjects:write": frozenset({R.caseworker, R.supervisor}),
    "orders:read": frozenset({R.caseworker, R.operator, R.supervisor}),
    "orders:write": frozenset({R.caseworker, R.supervisor}),
    "devices:read": frozenset({R.admin, R.caseworker, R.operator, R.supervisor}),
    "devices:write": frozenset({R.admin}),
    # history (trails, check-in photos, frames): purpose-bound
    "history:open": frozenset({R.caseworker, R.operator, R.supervisor}),
    "history:break_glass": frozenset({R.caseworker, R.supervisor}),
    "reviews:read": frozenset({R.supervisor}),
    "reviews:write": frozenset({R.supervisor}),
    # audit trail and aggregate reports
    "audit:read": frozenset({R.auditor}),
    "reports:read": frozenset({R.auditor, R.supervisor}),
    # police requests, grants and the disclosure register
    "police_requests:create": frozenset({R.police}),
    "police_requests:read": frozenset({R.police, R.approver}),
    "police_requests:decide": frozenset({R.approver}),
    "grants:use": frozenset({R.police}),
    "disclosures:read": frozenset({R.auditor}),
    # --- zones, rules and alerts (issue 4) ---
    "zones:read": frozenset({R.caseworker, R.operator, R.supervisor}),
    "zones:write": frozenset({R.caseworker, R.supervisor}),
    "alerts:read": frozenset({R.caseworker, R.operator, R.supervisor}),
    "alerts:act": frozenset({R.caseworker, R.operator, R.supervisor}),
    "alerts:resolve": frozenset({R.caseworker, R.operator, R.supervisor}),
    "alerts:breach": frozenset({R.caseworker, R.supervisor}),
    # --- data protection (issue 7): retention, holds, subject rights, proportionality ---
    "retention:read": frozenset({R.auditor, R.supervisor, R.admin}),
    "holds:read": frozenset({R.auditor, R.supervisor}),
    "holds:write": frozenset({R.auditor, R.supervisor}),
    "sar:export": frozenset({R.auditor}),
    "rights:read": frozenset({R.auditor, R.caseworker, R.supervisor}),
    "rights:write": frozenset({R.auditor, R.caseworker}),
    "proportionality:read": frozenset({R.caseworker, R.supervisor, R.auditor}),
    "proportionality:write": frozenset({R.caseworker, R.supervisor}),
    "assessments:read": frozenset({R.caseworker, R.supervisor, R.auditor}),
    "assessments:write": frozenset({R.supervisor, R.auditor}),
    "notices:read": frozenset({R.caseworker, R.supervisor, R.auditor}),
    "notices:write": frozenset({R.caseworker, R.supervisor}),
    # --- check-ins and face enrolment (issue 5); frames go through history:open ---
    "checkins:read": frozenset({R.caseworker, R.operator, R.supervisor}),
    "checkins:enrol": frozenset({R.caseworker, R.supervisor}),
    # --- messages to the wearer through the device inbox (issue 3) ---
    "messages:read": frozenset({R.caseworker, R.operator, R.supervisor}),
    "messages:send": frozenset({R.caseworker, R.operator, R.supervisor}),
}

MFA_ROLES = frozenset({R.police, R.approver, R.admin})
APPROVER_ORGANISATIONS = frozenset({OrganisationKind.home_office, OrganisationKind.moj})
ALL_CASELOADS = frozenset({R.operator, R.supervisor})


class PermissionDenied(Forbidden):
    def __init__(self, permission: str) -> None:
        super().__init__(f"your role may not use '{permission}'")
        self.permission = permission


def allows(principal: Principal, permission: str) -> bool:
    if principal.is_system:
        return True
    roles = PERMISSIONS.get(permission)
    if roles is None:
        return False
    if ANYONE not in roles and principal.role not in roles:
        return False
    return not principal.scopes or permission in principal.scopes


def require(principal: Principal, permission: str) -> None:
    if not allows(principal, permission):
        raise PermissionDenied(permission)


def needs_mfa(role: str) -> bool:
    return role in MFA_ROLES


def may_decide_disclosures(principal: Principal) -> bool:
    """Approvers of a Home Office or MoJ organisation grant or refuse police requests."""
    return (
        allows(principal, "police_requests:decide")
        and principal.organisation_kind in APPROVER_ORGANISATIONS
    )


# --- record scope -----------------------------------------------------------------------


def may_read_subject(principal: Principal, *, caseload_team: str | None) -> bool:
    """Current status of one subject: operators and supervisors see all, case workers their
    team's caseload; everyone else none (police only through a grant, elsewhere)."""
    if principal.is_system or principal.role in ALL_CASELOADS:
        return True
    if principal.role == R.caseworker:
        return principal.team is not None and caseload_team == principal.team
    return False


def caseload_filter(principal: Principal, column: Any) -> ColumnElement[bool] | None:
    """The WHERE clause narrowing a subject query to what the principal may see (None: all)."""
    if principal.is_system or principal.role in ALL_CASELOADS:
        return None
    if principal.role == R.caseworker and principal.team is not None:
        result: ColumnElement[bool] = column == principal.team
        return result
    return false()


# --- history ------------------------------------------------------------------------------


class HasCaseload(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def caseload_team(self) -> str | None: ...


@dataclass(frozen=True)
class EvidenceScope:
    """What an alert lets an operator see: one subject's history within one window.

    The alerts domain builds this from an alert it has checked the principal may work on.
    """

    alert_id: uuid.UUID
    subject_id: uuid.UUID
    start: datetime
    end: datetime


@dataclass(frozen=True)
class HistoryDecision:
    allowed: bool
    reason: str
    window: tuple[datetime, datetime] | None = None


def may_read_history(
    principal: Principal,
    subject: HasCaseload,
    purpose: str | None,
    evidence_scope: EvidenceScope | None = None,
) -> HistoryDecision:
    """Whether ``principal`` may open ``subject``'s history (trail, photos, frames).

    - within an alert's evidence (``evidence_scope`` for this subject): operators, case workers
      of the caseload and supervisors, limited to the evidence window, no purpose needed;
    - beyond it: case workers (own caseload) and supervisors, with a stated purpose;
    - everyone else: refused (police see history only through a grant, auditors never).
    """
    if principal.is_system:
        return HistoryDecision(True, "system")
    in_caseload = may_read_subject(principal, caseload_team=subject.caseload_team)
    in_evidence = evidence_scope is not None and evidence_scope.subject_id == subject.id
    may_see_evidence = principal.role in (R.operator, R.supervisor) or (
        principal.role == R.caseworker and in_caseload
    )
    if evidence_scope is not None and in_evidence and may_see_evidence:
        return HistoryDecision(True, "alert evidence", (evidence_scope.start, evidence_scope.end))
    if principal.role not in (R.caseworker, R.supervisor) or not in_caseload:
        return HistoryDecision(False, "your role may not open this subject's history")
    if not purpose:
        return HistoryDecision(False, "a purpose is required to open history")
    return HistoryDecision(True, "stated purpose")
