"""The telemetry route answered ahead of the middleware stack answers exactly as the
framework's route does, with the same limits, headers and metrics."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select

from openem.app import create_app
from openem.config import Settings
from openem.locations.models import Position
from tests.conftest import bearer
from tests.support.devices import TestDevice, pair
from tests.support.writer import queued_upload, until, writes_blocked

PATH = "/device/v1/telemetry"
VARYING = {"date", "content-length"}


@pytest.fixture
def framework_client(settings: Settings) -> Iterator[TestClient]:
    """The same application with the telemetry route left to FastAPI."""
    app = create_app(settings)
    app.fast_path = None
    with TestClient(app) as client:
        yield client


@pytest.fixture
def admin(staff_tokens: dict[str, str]) -> str:
    return staff_tokens["admin"]


Request = Callable[[TestClient, TestDevice], httpx.Response]


def _signed(items: list[dict[str, Any]], **overrides: str) -> Request:
    def send(client: TestClient, device: TestDevice) -> httpx.Response:
        body = json.dumps({"items": items}).encode()
        headers = device.signed("POST", PATH, body) | overrides
        return client.post(PATH, content=body, headers=headers)

    return send


def _raw(body: bytes, content_type: str = "application/json") -> Request:
    def send(client: TestClient, device: TestDevice) -> httpx.Response:
        headers = device.signed("POST", PATH, body) | {"content-type": content_type}
        return client.post(PATH, content=body, headers=headers)

    return send


CASES: dict[str, Callable[[TestDevice], Request]] = {
    "stored": lambda device: _signed([device.position(), {"type": "heartbeat"}]),
    "not json": lambda _: _raw(b"{not json"),
    "wrong content type": lambda _: _raw(b'{"items": []}', "text/plain"),
    "too many items": lambda _: _raw(json.dumps({"items": [{}] * 1001}).encode()),
    "bad signature": lambda device: _signed([], signature="sig1=:AAAA:"),
    "over the body limit": lambda _: _raw(b" " * (1024 * 1024 + 1)),
    "over the limit and not json": lambda _: _raw(b" " * (1024 * 1024 + 1), "text/plain"),
}


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], object]:
    headers = {k: v for k, v in response.headers.items() if k not in VARYING}
    body = response.json()
    if response.status_code == 200:
        body = {key: value for key, value in body.items() if key != "accepted"} | {
            "accepted": len(body["accepted"])
        }
    return response.status_code, headers, body


@pytest.mark.parametrize("case", list(CASES))
def test_the_fast_path_answers_as_the_framework_route_does(
    case: str, client: TestClient, framework_client: TestClient, admin: str
) -> None:
    fast_device, framework_device = pair(client, admin), pair(framework_client, admin)
    fast = CASES[case](fast_device)(client, fast_device)
    framework = CASES[case](framework_device)(framework_client, framework_device)
    assert _answer(fast) == _answer(framework)


def test_the_fast_path_answer_carries_the_security_headers(
    client: TestClient, admin: str
) -> None:
    device = pair(client, admin)
    response = CASES["stored"](device)(client, device)
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]


def _count(status: str) -> float:
    labels = {"method": "POST", "route": PATH, "status": status}
    return REGISTRY.get_sample_value("openem_http_requests_total", labels) or 0.0


def test_the_fast_path_is_counted_in_the_request_metrics(client: TestClient, admin: str) -> None:
    device = pair(client, admin)
    stored, refused = _count("200"), _count("413")
    CASES["stored"](device)(client, device)
    CASES["over the body limit"](device)(client, device)
    assert (_count("200"), _count("413")) == (stored + 1, refused + 1)
    assert "openem_http_requests_total" in client.get("/metrics").text


def test_other_routes_pass_through(client: TestClient, admin: str) -> None:
    assert client.get("/device/v1/telemetry").status_code == 405
    assert client.get("/api/v1/devices", headers=bearer(admin)).status_code == 200


@pytest.mark.parametrize("route", ["fast path", "framework"])
def test_an_overloaded_writer_is_answered_503_with_retry_after_and_nothing_is_stored(
    route: str, client: TestClient, framework_client: TestClient, admin: str
) -> None:
    app_client = client if route == "fast path" else framework_client
    state = app_client.app.state  # type: ignore[attr-defined]
    writer, device = state.telemetry_writer, pair(app_client, admin)
    late, behind = queued_upload(device), queued_upload(device)
    late.queued_at -= 10  # waited twice the default limit
    with writes_blocked(state.sessions):
        writer._queue.put(late)
        writer._queue.put(behind)
        until(lambda: writer._busy_since is not None)  # on the lock, with the other queued
        refused = CASES["stored"](device)(app_client, device)
    until(lambda: late.outcome.done() and behind.outcome.done())
    accepted = CASES["stored"](device)(app_client, device)

    assert refused.status_code == 503
    assert 30 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["title"] == "Service unavailable"
    assert accepted.status_code == 200
    with state.sessions() as session:
        stored = session.scalars(
            select(Position.seq).where(Position.device_id == uuid.UUID(device.device_id))
        )
        assert sorted(stored) == [1, 2, 4]  # the refused upload's fix (3) is not among them
