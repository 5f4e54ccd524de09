"""The authorisation matrix: every staff route, every role, allow or deny, as declared here.

A route added without an entry below, or whose declared permission the policy
grants to a different set of roles, fails these tests: the table is the review.
"""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from openem.access.models import Role
from openem.access.policy import ANYONE, PERMISSIONS, allows
from openem.access.principal import Principal
from tests.conftest import bearer
from tests.support.routes import declared_permissions, operations

R = Role
EVERYONE = frozenset({ANYONE})
STAFF = frozenset(Role)
NOBODY: frozenset[str] = frozenset()
CASELOAD = frozenset({R.caseworker, R.operator, R.supervisor})
CASE_WRITERS = frozenset({R.caseworker, R.supervisor})

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/api/v1/auth/login"): EVERYONE,
    ("POST", "/api/v1/auth/logout"): STAFF,
    ("GET", "/api/v1/auth/oidc/login"): EVERYONE,
    ("GET", "/api/v1/auth/oidc/callback"): EVERYONE,
    ("POST", "/api/v1/auth/oidc/totp"): EVERYONE,
    ("GET", "/api/v1/auth/session"): STAFF,
    ("POST", "/api/v1/auth/totp/confirmation"): STAFF,
    ("POST", "/api/v1/auth/totp/enrolment"): STAFF,
    ("POST", "/api/v1/auth/password"): STAFF,
    ("GET", "/api/v1/tokens"): STAFF,
    ("POST", "/api/v1/tokens"): STAFF,
    ("DELETE", "/api/v1/tokens/{token_id}"): STAFF,
    ("GET", "/api/v1/audit"): frozenset({R.auditor}),
    ("GET", "/api/v1/audit/export"): frozenset({R.auditor}),
    ("GET", "/api/v1/audit/verification"): frozenset({R.auditor}),
    ("GET", "/api/v1/reports/access"): frozenset({R.auditor, R.supervisor}),
    ("GET", "/api/v1/reviews"): frozenset({R.supervisor}),
    ("POST", "/api/v1/reviews/{task_id}/resolution"): frozenset({R.supervisor}),
    ("GET", "/api/v1/organisations"): frozenset({R.admin, R.supervisor, R.auditor}),
    ("POST", "/api/v1/organisations"): frozenset({R.admin}),
    ("GET", "/api/v1/organisations/{organisation_id}"): frozenset(
        {R.admin, R.supervisor, R.auditor}
    ),
    ("PATCH", "/api/v1/organisations/{organisation_id}"): frozenset({R.admin}),
    ("GET", "/api/v1/users"): frozenset({R.admin, R.supervisor, R.auditor}),
    ("POST", "/api/v1/users"): frozenset({R.admin}),
    ("GET", "/api/v1/users/{user_id}"): frozenset({R.admin, R.supervisor, R.auditor}),
    ("PATCH", "/api/v1/users/{user_id}"): frozenset({R.admin}),
    ("POST", "/api/v1/users/{user_id}/totp/reset"): frozenset({R.admin}),
    ("GET", "/api/v1/subjects"): CASELOAD,
    ("POST", "/api/v1/subjects"): CASE_WRITERS,
    ("GET", "/api/v1/subjects/{subject_id}"): CASELOAD,
    ("PATCH", "/api/v1/subjects/{subject_id}"): CASE_WRITERS,
    ("POST", "/api/v1/subjects/{subject_id}/history-access"): CASELOAD,
    ("POST", "/api/v1/subjects/{subject_id}/break-glass"): CASE_WRITERS,
    ("GET", "/api/v1/orders"): CASELOAD,
    ("POST", "/api/v1/orders"): CASE_WRITERS,
    ("GET", "/api/v1/orders/{order_id}"): CASELOAD,
    ("PATCH", "/api/v1/orders/{order_id}"): CASE_WRITERS,
    ("GET", "/api/v1/devices"): frozenset({R.admin, R.caseworker, R.operator, R.supervisor}),
    ("POST", "/api/v1/devices"): frozenset({R.admin}),
    ("GET", "/api/v1/devices/{device_id}"): frozenset(
        {R.admin, R.caseworker, R.operator, R.supervisor}
    ),
    ("PATCH", "/api/v1/devices/{device_id}"): frozenset({R.admin}),
    ("POST", "/api/v1/devices/{device_id}/assignment"): frozenset({R.admin}),
    ("DELETE", "/api/v1/devices/{device_id}/assignment"): frozenset({R.admin}),
    ("POST", "/api/v1/devices/{device_id}/removal"): frozenset({R.admin}),
    ("POST", "/api/v1/subjects/{subject_id}/messages"): frozenset(
        {R.caseworker, R.operator, R.supervisor}
    ),
    ("GET", "/api/v1/subjects/{subject_id}/messages"): frozenset(
        {R.caseworker, R.operator, R.supervisor}
    ),
    ("POST", "/api/v1/devices/{device_id}/pairing-code"): frozenset({R.admin}),
    ("POST", "/api/v1/devices/{device_id}/retirement"): frozenset({R.admin}),
    ("POST", "/api/v1/devices/{device_id}/tracker-secret"): frozenset({R.admin}),
    ("GET", "/api/v1/devices/{device_id}/health"): frozenset(
        {R.admin, R.caseworker, R.operator, R.supervisor}
    ),
    ("GET", "/api/v1/subjects/{subject_id}/positions"): CASELOAD,
    ("GET", "/api/v1/subjects/{subject_id}/zones"): CASELOAD,
    ("POST", "/api/v1/subjects/{subject_id}/zones"): CASE_WRITERS,
    ("GET", "/api/v1/subjects/{subject_id}/zones.geojson"): CASELOAD,
    ("POST", "/api/v1/subjects/{subject_id}/zones.geojson"): CASE_WRITERS,
    ("GET", "/api/v1/zones/{zone_id}"): CASELOAD,
    ("PATCH", "/api/v1/zones/{zone_id}"): CASE_WRITERS,
    ("DELETE", "/api/v1/zones/{zone_id}"): CASE_WRITERS,
    ("GET", "/api/v1/zones/{zone_id}/versions"): CASELOAD,
    ("GET", "/api/v1/alerts"): CASELOAD,
    ("GET", "/api/v1/alerts/stream"): CASELOAD,
    ("GET", "/api/v1/alerts/{alert_id}"): CASELOAD,
    ("GET", "/api/v1/alerts/{alert_id}/evidence.geojson"): CASELOAD,
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): CASELOAD,
    ("POST", "/api/v1/alerts/{alert_id}/assign"): CASELOAD,
    ("POST", "/api/v1/alerts/{alert_id}/resolve"): CASELOAD,
    ("GET", "/api/v1/police-requests"): frozenset({R.police, R.approver}),
    ("POST", "/api/v1/police-requests"): frozenset({R.police}),
    ("GET", "/api/v1/police-requests/{request_id}"): frozenset({R.police, R.approver}),
    ("POST", "/api/v1/police-requests/{request_id}/grant"): frozenset({R.approver}),
    ("POST", "/api/v1/police-requests/{request_id}/refusal"): frozenset({R.approver}),
    ("GET", "/api/v1/grants/{grant_id}/subject"): frozenset({R.police}),
    ("GET", "/api/v1/grants/{grant_id}/presence"): frozenset({R.police}),
    ("GET", "/api/v1/disclosures"): frozenset({R.auditor}),
    ("GET", "/api/v1/assessments"): frozenset({R.auditor, R.caseworker, R.supervisor}),
    ("POST", "/api/v1/assessments"): frozenset({R.auditor, R.supervisor}),
    ("POST", "/api/v1/orders/{order_id}/reviews"): CASE_WRITERS,
    ("GET", "/api/v1/order-reviews/escalations"): frozenset(
        {R.auditor, R.caseworker, R.supervisor}
    ),
    ("GET", "/api/v1/order-reviews/overdue"): frozenset({R.auditor, R.caseworker, R.supervisor}),
    ("GET", "/api/v1/retention/certificates"): frozenset({R.admin, R.auditor, R.supervisor}),
    ("GET", "/api/v1/retention/schedules"): frozenset({R.admin, R.auditor, R.supervisor}),
    ("GET", "/api/v1/retention/holds"): frozenset({R.auditor, R.supervisor}),
    ("POST", "/api/v1/retention/holds/{hold_id}/release"): frozenset({R.auditor, R.supervisor}),
    ("POST", "/api/v1/subjects/{subject_id}/holds"): frozenset({R.auditor, R.supervisor}),
    ("POST", "/api/v1/subjects/{subject_id}/access-export"): frozenset({R.auditor}),
    ("GET", "/api/v1/rights-requests"): frozenset({R.auditor, R.caseworker, R.supervisor}),
    ("POST", "/api/v1/rights-requests/{request_id}/close"): frozenset({R.auditor, R.caseworker}),
    ("POST", "/api/v1/subjects/{subject_id}/rights-requests"): frozenset(
        {R.auditor, R.caseworker}
    ),
    ("GET", "/api/v1/subjects/{subject_id}/privacy-notices"): frozenset(
        {R.auditor, R.caseworker, R.supervisor}
    ),
    ("POST", "/api/v1/subjects/{subject_id}/privacy-notices"): CASE_WRITERS,
    ("POST", "/api/v1/subjects/{subject_id}/enrolment"): CASE_WRITERS,
    ("GET", "/api/v1/subjects/{subject_id}/checkins"): CASELOAD,
    ("GET", "/api/v1/checkins/{decision_id}/frames/{index}"): CASELOAD,
    ("GET", "/api/v1/subjects/{subject_id}/enrolment/photos/{index}"): CASELOAD,
}

OPERATIONS = operations()


def _principal(role: Role) -> Principal:
    return Principal(user_id=uuid.uuid4(), role=role, organisation_id=uuid.uuid4())


def test_every_route_has_exactly_one_declared_permission_and_an_expected_row() -> None:
    declared = {(method, path) for method, path, _ in OPERATIONS}
    assert declared - EXPECTED.keys() == set(), "routes without a row in EXPECTED"
    assert EXPECTED.keys() - declared == set(), "rows in EXPECTED for routes that do not exist"
    for method, path, route in OPERATIONS:
        permissions = declared_permissions(route)
        assert len(permissions) == 1, f"{method} {path} declares {permissions}"
        assert permissions[0] in PERMISSIONS, f"{method} {path}: '{permissions[0]}' not in policy"


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in OPERATIONS])
def test_policy_allows_exactly_the_expected_roles(method: str, path: str) -> None:
    route = next(r for m, p, r in OPERATIONS if (m, p) == (method, path))
    permission = declared_permissions(route)[0]
    expected = EXPECTED[(method, path)]
    for role in Role:
        wanted = ANYONE in expected or role in expected
        assert allows(_principal(role), permission) is wanted, f"{role} on {method} {path}"


def test_a_permission_missing_from_the_table_is_held_by_nobody() -> None:
    for role in Role:
        assert not allows(_principal(role), "something:new")


def test_police_hold_nothing_about_subjects_by_default() -> None:
    police = _principal(Role.police)
    held = {permission for permission in PERMISSIONS if allows(police, permission)}
    assert held == {
        "session:create",
        "account:self",
        "tokens:own",
        "police_requests:create",
        "police_requests:read",
        "grants:use",
    }


def test_auditors_see_the_trail_and_reports_but_no_subject_or_history() -> None:
    auditor = _principal(Role.auditor)
    for permission in ("audit:read", "reports:read", "disclosures:read"):
        assert allows(auditor, permission)
    for permission in ("subjects:read", "orders:read", "history:open", "history:break_glass"):
        assert not allows(auditor, permission)


def test_every_route_answers_each_role_as_the_table_says(
    client: TestClient, staff_tokens: dict[str, str]
) -> None:
    """Over HTTP: a role outside the row gets 403 naming the permission; a role inside it
    never does (it may still get 404 or 422 for the made-up ids and empty bodies)."""
    fake = "00000000-0000-0000-0000-000000000001"
    for method, path, route in OPERATIONS:
        expected = EXPECTED[(method, path)]
        if ANYONE in expected:
            continue
        permission = declared_permissions(route)[0]
        url = re.sub(r"\{[^}]+\}", fake, path)
        for role in Role:
            status, detail = _answer(client, method, url, bearer(staff_tokens[role]))
            refused_by_policy = status == 403 and permission in detail
            assert refused_by_policy is (role not in expected), f"{role} {method} {path}: {status}"
            assert status < 500


def _answer(client: TestClient, method: str, url: str, headers: dict[str, str]) -> tuple[int, str]:
    """Status and problem detail; a live stream is judged by its headers, never read to the end."""
    with client.stream(method, url, json={}, headers=headers) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return response.status_code, ""
        response.read()
    if "json" not in response.headers.get("content-type", ""):
        return response.status_code, ""
    body = response.json()
    return response.status_code, str(body.get("detail", "")) if isinstance(body, dict) else ""
