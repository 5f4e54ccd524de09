"""Health, metrics and the OpenAPI document."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from openem.app import create_app
from openem.config import Settings
from openem.db.engine import make_engine


def test_healthz_checks_database_and_bus(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "bus": "ok"}}


def test_healthz_reports_a_database_that_is_gone(client: TestClient) -> None:
    client.app.state.engine.dispose()  # type: ignore[attr-defined]
    client.app.state.engine = _broken_engine()  # type: ignore[attr-defined]
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable"


def _broken_engine() -> Engine:
    return make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_pre_ping=False)


def test_metrics_are_prometheus_text_by_route_template(client: TestClient) -> None:
    client.get("/healthz")
    client.get("/api/v1/subjects/00000000-0000-0000-0000-000000000000")
    body = client.get("/metrics").text
    assert "openem_http_requests_total" in body
    assert 'route="/api/v1/subjects/{subject_id}"' in body
    assert "00000000-0000-0000-0000-000000000000" not in body


def test_openapi_document_is_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["info"]["title"] == "OpenEM"
    assert "/api/v1/orders" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_a_running_app_keeps_its_start_up_objects_out_of_garbage_collection(
    settings: Settings,
) -> None:
    with TestClient(create_app(settings)):
        assert gc.get_freeze_count() > 100_000  # the modules, the app, its engine...
    assert gc.get_freeze_count() == 0  # ...and collectable again once it has stopped
