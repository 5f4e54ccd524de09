"""Staff API for subjects: create, read, update, list, and every bad input refused."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.conftest import bearer
from tests.support import factories


@pytest.fixture
def headers(staff_tokens: dict[str, str]) -> dict[str, str]:
    return bearer(staff_tokens["caseworker"])


def _subject_count(client: TestClient, headers: dict[str, str]) -> int:
    return len(
        client.get("/api/v1/subjects", params={"limit": 500}, headers=headers).json()["items"]
    )


def test_subject_round_trip_never_shows_bias_monitoring_attributes(
    client: TestClient, headers: dict[str, str]
) -> None:
    data = factories.subject_data(sex="female", ethnic_group="Black African", nationality="gbr")
    created = client.post("/api/v1/subjects", json=data, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["nationality"] == "GBR"
    assert "sex" not in body and "ethnic_group" not in body
    fetched = client.get(f"/api/v1/subjects/{body['id']}", headers=headers).json()
    assert fetched == body


def test_subject_update_changes_only_what_is_sent(
    client: TestClient, headers: dict[str, str]
) -> None:
    created = client.post("/api/v1/subjects", json=factories.subject_data(), headers=headers).json()
    updated = client.patch(
        f"/api/v1/subjects/{created['id']}", json={"risk_level": "high"}, headers=headers
    )
    assert updated.status_code == 200
    assert updated.json()["risk_level"] == "high"
    assert updated.json()["family_name"] == created["family_name"]


def test_list_pages_through_every_subject_once(client: TestClient, headers: dict[str, str]) -> None:
    made = {
        client.post("/api/v1/subjects", json=factories.subject_data(), headers=headers).json()["id"]
        for _ in range(5)
    }
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/subjects", params=params, headers=headers).json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made)


def test_list_filters_by_reference(client: TestClient, headers: dict[str, str]) -> None:
    target = factories.subject_data()
    client.post("/api/v1/subjects", json=target, headers=headers)
    client.post("/api/v1/subjects", json=factories.subject_data(), headers=headers)
    page = client.get(
        "/api/v1/subjects", params={"reference": target["home_office_reference"]}, headers=headers
    ).json()
    assert [item["home_office_reference"] for item in page["items"]] == [
        target["home_office_reference"]
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"nationality": "UK"}, "nationality"),
        ({"nationality": "XYZ"}, "nationality"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"date_of_birth": "1985-02-30"}, "date_of_birth"),
        ({"date_of_birth": 12}, "date_of_birth"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"given_name": ""}, "given_name"),
        ({"pnc_id": "not a pnc"}, "pnc_id"),
    ],
)
def test_bad_subject_input_is_refused_naming_the_field_and_nothing_is_written(
    client: TestClient, headers: dict[str, str], overrides: dict[str, object], field: str
) -> None:
    data = factories.subject_data(**({"given_name": "Zebedee-Unique"} | overrides))
    response = client.post("/api/v1/subjects", json=data, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in {error["field"] for error in response.json()["errors"]}
    assert "Zebedee-Unique" not in response.text
    assert _subject_count(client, headers) == 0


def test_duplicate_reference_is_a_conflict(client: TestClient, headers: dict[str, str]) -> None:
    data = factories.subject_data()
    assert client.post("/api/v1/subjects", json=data, headers=headers).status_code == 201
    again = client.post("/api/v1/subjects", json=data, headers=headers)
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "home_office_reference"
    assert _subject_count(client, headers) == 1


def test_malformed_json_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/subjects",
        content=b"{not json",
        headers=headers | {"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert _subject_count(client, headers) == 0


def test_body_over_one_mebibyte_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    data = factories.subject_data(given_name="x" * (1024 * 1024))
    response = client.post(
        "/api/v1/subjects",
        content=json.dumps(data).encode(),
        headers=headers | {"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["title"] == "Content too large"
    assert _subject_count(client, headers) == 0


def test_unknown_subject_is_not_found(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/api/v1/subjects/00000000-0000-0000-0000-000000000000", headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
