"""The live stream: a subscribed dashboard receives a new alert, within its caseload only."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from openem.alerts import raising
from openem.alerts.types import AlertType
from openem.app import create_app
from openem.config import Settings
from openem.db.session import transaction
from tests.conftest import bearer
from tests.support import factories
from tests.support.server import free_port

NOW = datetime.now(UTC)


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(settings.model_copy(update={"rules_worker": False})),
                            host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


def _raise(sessions: sessionmaker[Session], *, team: str, key: str) -> str:
    with transaction(sessions) as session:
        subject = factories.subject(session, caseload_team=team)
        alert, _ = raising.raise_alert(session, subject_id=subject.id,
                                       alert_type=AlertType.strap_tamper, key=key,
                                       started_at=NOW, now=NOW)
        return str(alert.id)


def test_the_stream_delivers_a_new_alert_to_a_subscribed_client(
    server: str, sessions: sessionmaker[Session], staff_tokens: dict[str, str]
) -> None:
    headers = bearer(staff_tokens["caseworker"])
    with httpx.stream("GET", f"{server}/api/v1/alerts/stream", headers=headers,
                      timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == ": subscribed"
        _raise(sessions, team="south", key="not-mine")
        mine = _raise(sessions, team="north", key="mine")
        event = data = None
        for line in lines:
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                break
    assert event == "alert" and data is not None
    assert data["action"] == "raised"
    assert data["alert"]["id"] == mine, "the other caseload's alert is never sent"


def test_the_stream_has_the_same_access_rules_as_the_list(
    server: str, staff_tokens: dict[str, str]
) -> None:
    url = f"{server}/api/v1/alerts/stream"
    assert httpx.get(url, timeout=5).status_code == 401
    assert httpx.get(url, headers=bearer(staff_tokens["police"]), timeout=5).status_code == 403
