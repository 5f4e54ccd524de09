"""Logs carry record ids only: no names, dates of birth, coordinates or photos."""

from __future__ import annotations

import json

import pytest
import structlog
from fastapi.testclient import TestClient

from openem.logs import configure_logging, get_logger
from tests.conftest import bearer
from tests.support import factories

SECRET_NAME = "Quillonmeadow"
SECRET_DOB = "1979-03-14"


def test_log_keys_that_name_personal_data_are_withheld(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    get_logger("test").info(
        "subject_seen",
        subject_id="abc",
        family_name=SECRET_NAME,
        lat=51.5,
        lon=-0.12,
        date_of_birth=SECRET_DOB,
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["subject_id"] == "abc"
    assert record["family_name"] == "[withheld]"
    assert record["lat"] == "[withheld]" and record["lon"] == "[withheld]"
    assert SECRET_NAME not in line and SECRET_DOB not in line and "51.5" not in line


def test_a_full_request_flow_logs_no_personal_data(
    client: TestClient, staff_tokens: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(json=True, level="DEBUG")
    headers = bearer(staff_tokens["caseworker"])
    data = factories.subject_data(family_name=SECRET_NAME, date_of_birth=SECRET_DOB)
    created = client.post("/api/v1/subjects", json=data, headers=headers)
    assert created.status_code == 201
    client.post("/api/v1/subjects", json=data | {"nationality": "ZZZ"}, headers=headers)
    client.get(f"/api/v1/subjects/{created.json()['id']}", headers=headers)
    client.post(
        "/api/v1/orders",
        json=factories.order_data(created.json()["id"], conviction=None),
        headers=headers,
    )
    output = capsys.readouterr()
    everything = output.out + output.err
    assert SECRET_NAME not in everything
    assert SECRET_DOB not in everything
    structlog.reset_defaults()
