"""Schemathesis over the whole staff API, authenticated as each role: no 5xx, and every
documented response matches its schema. Bounded (a few examples per operation, SQLite)
so it runs in CI in well under a minute."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from openem.access.models import Role
from openem.app import create_app
from openem.config import Settings
from openem.db.engine import make_engine
from openem.db.session import make_session_factory, transaction
from tests.support import factories

EXAMPLES = 3


@pytest.fixture(scope="module")
def fuzz_app(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copy(sqlite_template, folder / "openem.db")
    url = f"sqlite:///{folder / 'openem.db'}"
    engine = make_engine(url)
    tokens: dict[str, str] = {}
    with transaction(make_session_factory(engine)) as session:
        org = factories.organisation(session)
        for role in Role:
            tokens[role] = factories.token_for(session, factories.user(session, role, org=org))
        subject = factories.subject(session)
        factories.order(session, subject.id)
    engine.dispose()
    app = create_app(
        Settings(database_url=url, data_dir=folder, key_file=folder / "k", log_level="ERROR")
    )
    with TestClient(app):  # runs the lifespan (engine, sessions, bus)
        yield app, tokens


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app: tuple[FastAPI, dict[str, str]]) -> OpenApiSchema:
    """The app's OpenAPI document, loaded once for every role (~0.6 s each)."""
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app[0])


@pytest.mark.slow
@pytest.mark.parametrize("role", list(Role))
def test_staff_api_has_no_server_errors_and_keeps_to_its_schema(
    fuzz_app: tuple[FastAPI, dict[str, str]], fuzz_schema: OpenApiSchema, role: Role
) -> None:
    _, tokens = fuzz_app
    schema = fuzz_schema
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/"):
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        run()
        checked += 1
    assert checked >= 40
