"""Caseload scoping hook: whose subjects a principal may see and change.

Until roles and caseloads are complete (issue 6), the rule is: case workers work on
subjects of their own team's caseload; operators and supervisors see every
caseload (the monitoring centre works 24/7 across them); the system sees all.
Domains call these functions rather than comparing teams themselves, so the
rule can change in one place.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, true
from sqlalchemy.orm import InstrumentedAttribute

from openem.access.models import Role
from openem.access.principal import Principal
from openem.errors import Forbidden

SCOPED_ROLES = frozenset({Role.caseworker})


class NotOnCaseload(Forbidden):
    def __init__(self) -> None:
        super().__init__("the subject is not on your caseload")


def allows_subject(principal: Principal, *, caseload_team: str | None) -> bool:
    if principal.is_system or principal.role not in SCOPED_ROLES:
        return True
    return principal.team is not None and principal.team == caseload_team


def require_subject(principal: Principal, *, caseload_team: str | None) -> None:
    if not allows_subject(principal, caseload_team=caseload_team):
        raise NotOnCaseload()


def subject_filter(
    principal: Principal, team_column: InstrumentedAttribute[str | None]
) -> ColumnElement[bool]:
    """A WHERE clause keeping only subjects the principal may see."""
    if principal.is_system or principal.role not in SCOPED_ROLES:
        return true()
    if principal.team is None:
        return team_column.is_(None) & (team_column.is_not(None))
    return team_column == principal.team
