"""Zones through the staff API: versions, GeoJSON in and out, bad input refused, caseloads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import Role
from openem.zones.models import Zone, ZoneVersion
from tests.conftest import bearer
from tests.support import factories

SQUARE = {"type": "Polygon", "coordinates": [[[-0.13, 51.50], [-0.12, 51.50], [-0.12, 51.51],
                                              [-0.13, 51.51], [-0.13, 51.50]]]}
CURFEW = {"windows": [{"start": "19:00", "end": "07:00", "overnight": True}]}


def _subject(sessions: sessionmaker[Session], team: str = "north") -> str:
    with sessions() as session, session.begin():
        return str(factories.subject(session, caseload_team=team).id)


def _count(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions() as session:
        return (session.scalar(select(func.count()).select_from(Zone)) or 0,
                session.scalar(select(func.count()).select_from(ZoneVersion)) or 0)


def test_a_change_is_a_new_version_and_history_stays(
    client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str]
) -> None:
    subject_id = _subject(sessions)
    auth = bearer(staff_tokens["caseworker"])
    created = client.post(f"/api/v1/subjects/{subject_id}/zones", headers=auth, json={
        "name": "home", "kind": "inclusion",
        "geometry": {"type": "Point", "coordinates": [-0.12, 51.5]}, "radius_m": 120,
        "schedule": CURFEW,
        "absences": [{"start": "2026-12-01T09:00:00Z", "end": "2026-12-01T12:00:00Z",
                      "reference": "hospital appointment"}],
    })
    assert created.status_code == 201, created.text
    zone = created.json()
    assert zone["version"] == 1 and zone["schedule"]["timezone"] == "Europe/London"
    changed = client.patch(f"/api/v1/zones/{zone['id']}", headers=auth, json={"radius_m": 80,
                           "geometry": {"type": "Point", "coordinates": [-0.12, 51.5]}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2 and changed.json()["shape"]["radius_m"] == 80
    assert changed.json()["schedule"]["absences"][0]["reference"] == "hospital appointment"
    retired = client.delete(f"/api/v1/zones/{zone['id']}", headers=auth)
    assert retired.json()["retired"] is True
    versions = client.get(f"/api/v1/zones/{zone['id']}/versions", headers=auth).json()
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert versions[0]["shape"]["radius_m"] == 120
    assert client.get(f"/api/v1/subjects/{subject_id}/zones", headers=auth).json() == []


def test_geojson_export_and_import_round_trip(
    client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str]
) -> None:
    source, target = _subject(sessions), _subject(sessions)
    auth = bearer(staff_tokens["supervisor"])
    for body in (
        {"name": "victim", "kind": "exclusion", "geometry": SQUARE},
        {"name": "home", "kind": "inclusion", "radius_m": 100, "schedule": CURFEW,
         "geometry": {"type": "Point", "coordinates": [-0.12, 51.5]}},
    ):
        assert client.post(f"/api/v1/subjects/{source}/zones", headers=auth,
                           json=body).status_code == 201
    exported = client.get(f"/api/v1/subjects/{source}/zones.geojson", headers=auth)
    assert exported.headers["content-type"] == "application/geo+json"
    collection = exported.json()
    assert sorted(f["geometry"]["type"] for f in collection["features"]) == ["Point", "Polygon"]
    imported = client.post(f"/api/v1/subjects/{target}/zones.geojson", headers=auth,
                           json=collection)
    assert imported.status_code == 201, imported.text
    again = client.get(f"/api/v1/subjects/{target}/zones.geojson", headers=auth).json()
    def shapes(features: list[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps([f["geometry"], f["properties"].get("schedule")],
                                 sort_keys=True) for f in features)

    assert shapes(again["features"]) == shapes(collection["features"])


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("self-intersecting polygon", {"geometry": {"type": "Polygon", "coordinates": [[
        [-0.13, 51.50], [-0.12, 51.51], [-0.12, 51.50], [-0.13, 51.51], [-0.13, 51.50]]]}},
     "geometry"),
    ("unclosed polygon", {"geometry": {"type": "Polygon", "coordinates": [[
        [-0.13, 51.50], [-0.12, 51.50], [-0.12, 51.51], [-0.13, 51.51]]]}}, "geometry"),
    ("zero radius", {"radius_m": 0}, "geometry"),
    ("radius over 50 km", {"radius_m": 50_001}, "geometry"),
    ("end before start, not overnight",
     {"schedule": {"windows": [{"start": "19:00", "end": "07:00"}]}}, "schedule"),
    ("unknown time zone", {"schedule": {"timezone": "Mars/Olympus_Mons",
                                        "windows": [{"start": "19:00", "end": "23:00"}]}},
     "schedule"),
]


@pytest.mark.parametrize(("problem", "change", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_zone_input_is_refused_naming_the_problem_and_nothing_is_written(
    client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str],
    problem: str, change: dict[str, Any], field: str,
) -> None:
    subject_id = _subject(sessions)
    body: dict[str, Any] = {"name": "zone", "kind": "exclusion", "radius_m": 100,
            "geometry": {"type": "Point", "coordinates": [-0.12, 51.5]}} | change
    if body["geometry"]["type"] == "Polygon":
        body.pop("radius_m")
    response = client.post(f"/api/v1/subjects/{subject_id}/zones",
                           headers=bearer(staff_tokens["caseworker"]), json=body)
    assert response.status_code == 422, problem
    problem_body = response.json()
    assert problem_body["errors"][0]["field"] == field
    assert "51.5" not in response.text and "-0.12" not in response.text
    assert _count(sessions) == (0, 0)


def test_zones_on_another_caseloads_subject_are_refused(
    client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str]
) -> None:
    theirs = _subject(sessions, team="south")
    response = client.post(f"/api/v1/subjects/{theirs}/zones",
                           headers=bearer(staff_tokens["caseworker"]),
                           json={"name": "z", "kind": "exclusion", "radius_m": 50,
                                 "geometry": {"type": "Point", "coordinates": [-0.12, 51.5]}})
    assert response.status_code == 403
    assert "caseload" in response.json()["detail"]
    assert _count(sessions) == (0, 0)
    with sessions() as session, session.begin():
        police = factories.token_for(session, factories.user(session, Role.police))
    listed = client.get(f"/api/v1/subjects/{theirs}/zones", headers=bearer(police))
    assert listed.status_code == 403
