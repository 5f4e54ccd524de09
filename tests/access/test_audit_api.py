"""Auditors search, export and verify the trail over HTTP; nobody else can."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import Role
from openem.db.session import transaction
from tests.conftest import bearer
from tests.support import factories


def test_auditor_searches_by_subject_and_user_exports_and_verifies(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        caseworker_user = factories.user(session, Role.caseworker)
        caseworker = factories.token_for(session, caseworker_user)
        auditor = factories.token_for(session, factories.user(session, Role.auditor))
        subject_id = factories.subject(session).id
    assert (
        client.get(f"/api/v1/subjects/{subject_id}", headers=bearer(caseworker)).status_code == 200
    )
    headers = bearer(auditor)
    found = client.get(
        f"/api/v1/audit?subject_id={subject_id}&actor_id={caseworker_user.id}", headers=headers
    )
    assert found.status_code == 200
    assert [e["action"] for e in found.json()["items"]] == ["subject.read"]
    exported = client.get(
        f"/api/v1/audit/export?format=csv&subject_id={subject_id}", headers=headers
    )
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    # the auditor's own search for this subject is on the trail too
    assert {r["action"] for r in rows} == {"subject.create", "subject.read", "audit.search"}
    as_json = client.get(
        f"/api/v1/audit/export?format=json&subject_id={subject_id}", headers=headers
    )
    lines = [json.loads(line) for line in as_json.text.splitlines()]
    assert [line["action"] for line in lines][-1] == "audit.export"
    verified = client.get("/api/v1/audit/verification", headers=headers).json()
    assert verified["ok"] and verified["checked"] > 0
    assert client.get("/api/v1/audit", headers=bearer(caseworker)).status_code == 403
    report = client.get("/api/v1/reports/access", headers=headers).json()
    assert any(r["action"] == "subject.read" and r["count"] == 1 for r in report["rows"])
    assert str(subject_id) not in json.dumps(report)
