"""Rectification and restriction requests: recorded, listed, acted on, visible."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import bearer
from tests.support import factories


def test_restriction_is_recorded_listed_and_lifted(
    client: TestClient, staff_tokens: dict[str, str]
) -> None:
    caseworker = bearer(staff_tokens["caseworker"])
    subject_id = client.post(
        "/api/v1/subjects", json=factories.subject_data(), headers=caseworker
    ).json()["id"]
    created = client.post(
        f"/api/v1/subjects/{subject_id}/rights-requests",
        json={"kind": "restriction", "detail": "disputes the accuracy of the trail"},
        headers=caseworker,
    )
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    listed = client.get("/api/v1/rights-requests", headers=bearer(staff_tokens["auditor"]))
    assert [r["id"] for r in listed.json()] == [request_id]
    wrong = client.post(
        f"/api/v1/rights-requests/{request_id}/close",
        json={"status": "done", "outcome": "x"},
        headers=caseworker,
    )
    assert wrong.status_code == 422 and "cannot end as done" in wrong.json()["detail"]
    lifted = client.post(
        f"/api/v1/rights-requests/{request_id}/close",
        json={"status": "lifted", "outcome": "trail verified against the device log"},
        headers=caseworker,
    )
    assert lifted.status_code == 200 and lifted.json()["resolved_at"]
    assert client.get("/api/v1/rights-requests", headers=caseworker).json() == []


def test_rectification_is_acted_on_and_closed(
    client: TestClient, staff_tokens: dict[str, str]
) -> None:
    caseworker = bearer(staff_tokens["caseworker"])
    subject_id = client.post(
        "/api/v1/subjects", json=factories.subject_data(), headers=caseworker
    ).json()["id"]
    request_id = client.post(
        f"/api/v1/subjects/{subject_id}/rights-requests",
        json={"kind": "rectification", "detail": "date of birth is wrong"},
        headers=caseworker,
    ).json()["id"]
    fixed = client.patch(
        f"/api/v1/subjects/{subject_id}", json={"date_of_birth": "1986-04-12"}, headers=caseworker
    )
    assert fixed.status_code == 200
    closed = client.post(
        f"/api/v1/rights-requests/{request_id}/close",
        json={"status": "done", "outcome": "date of birth corrected"},
        headers=caseworker,
    )
    assert closed.json()["status"] == "done"
    police = client.get("/api/v1/rights-requests", headers=bearer(staff_tokens["police"]))
    assert police.status_code == 403
