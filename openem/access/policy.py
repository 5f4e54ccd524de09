"""The one place that decides who may do what. Deny by default.

Every staff route declares a permission; this table says which roles hold it.
"""

from __future__ import annotations

from openem.access.models import Role
from openem.access.principal import Principal
from openem.errors import Forbidden

R = Role

PERMISSIONS: dict[str, frozenset[str]] = {
    "organisations:read": frozenset({R.admin, R.supervisor, R.auditor}),
    "organisations:write": frozenset({R.admin}),
    "users:read": frozenset({R.admin, R.supervisor, R.auditor}),
    "users:write": frozenset({R.admin}),
    "subjects:read": frozenset({R.caseworker, R.operator, R.supervisor}),
    "subjects:write": frozenset({R.caseworker, R.supervisor}),
    "orders:read": frozenset({R.caseworker, R.operator, R.supervisor}),
    "orders:write": frozenset({R.caseworker, R.supervisor}),
    "devices:read": frozenset({R.admin, R.caseworker, R.operator, R.supervisor}),
    "devices:write": frozenset({R.admin}),
    "positions:read": frozenset({R.caseworker, R.supervisor}),
    # --- data protection (issue 7): retention, holds, subject rights, proportionality ---
    "retention:read": frozenset({R.auditor, R.supervisor, R.admin}),
    "holds:read": frozenset({R.auditor, R.supervisor}),
    "holds:write": frozenset({R.auditor, R.supervisor}),
    "sar:export": frozenset({R.auditor}),
    "rights:read": frozenset({R.auditor, R.caseworker, R.supervisor}),
    "rights:write": frozenset({R.auditor, R.caseworker}),
    "reviews:read": frozenset({R.caseworker, R.supervisor, R.auditor}),
    "reviews:write": frozenset({R.caseworker, R.supervisor}),
    "assessments:read": frozenset({R.caseworker, R.supervisor, R.auditor}),
    "assessments:write": frozenset({R.supervisor, R.auditor}),
    "notices:read": frozenset({R.caseworker, R.supervisor, R.auditor}),
    "notices:write": frozenset({R.caseworker, R.supervisor}),
}


class PermissionDenied(Forbidden):
    def __init__(self, permission: str) -> None:
        super().__init__(f"your role may not use '{permission}'")
        self.permission = permission


def allows(principal: Principal, permission: str) -> bool:
    if principal.is_system:
        return True
    roles = PERMISSIONS.get(permission)
    if roles is None or principal.role not in roles:
        return False
    return not principal.scopes or permission in principal.scopes


def require(principal: Principal, permission: str) -> None:
    if not allows(principal, permission):
        raise PermissionDenied(permission)
