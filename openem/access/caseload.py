"""Caseload scoping for domains that filter or check subjects: a thin face on the policy.

The rule itself lives in ``openem.access.policy`` (``may_read_subject``,
``caseload_filter``); domains call these so the rule stays in one place.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, true
from sqlalchemy.orm import InstrumentedAttribute

from openem.access.models import Role
from openem.access.policy import caseload_filter, may_read_subject
from openem.access.principal import Principal
from openem.errors import Forbidden


class NotOnCaseload(Forbidden):
    def __init__(self) -> None:
        super().__init__("the subject is not on your caseload")


def allows_subject(principal: Principal, *, caseload_team: str | None) -> bool:
    return may_read_subject(principal, caseload_team=caseload_team)


def require_subject(principal: Principal, *, caseload_team: str | None) -> None:
    if not allows_subject(principal, caseload_team=caseload_team):
        raise NotOnCaseload()


def subject_filter(
    principal: Principal, team_column: InstrumentedAttribute[str | None]
) -> ColumnElement[bool]:
    """A WHERE clause keeping only subjects the principal may see."""
    clause = caseload_filter(principal, team_column)
    return true() if clause is None else clause


def require_own_caseload(principal: Principal, *, caseload_team: str | None) -> None:
    """For acts a permission gives to case workers and to roles that see every subject
    (supervisors, auditors): a case worker acts only on their own caseload."""
    if principal.role == Role.caseworker:
        require_subject(principal, caseload_team=caseload_team)


def own_caseload_filter(
    principal: Principal, team_column: InstrumentedAttribute[str | None]
) -> ColumnElement[bool]:
    """A WHERE clause for :func:`require_own_caseload`'s rule: a case worker's own
    caseload, every subject for the other roles."""
    return subject_filter(principal, team_column) if principal.role == Role.caseworker else true()
