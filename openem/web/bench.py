"""`openem bench dashboard`: server time of the caseload, a subject page with its 24 h trail,
and the alert queue, on PostgreSQL with 10,000 subjects and a month of fixes for 200.

Requests go through the real application in process (FastAPI's TestClient with a real
session cookie), so the figures are server time: routing, policy, queries, audit, render.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from openem.access import service as access_service
from openem.access import sessions
from openem.access.models import Organisation, OrganisationKind, Role, User
from openem.access.principal import SYSTEM
from openem.access.schemas import OrganisationCreate, UserCreate
from openem.bench_common import machine, percentile, target
from openem.config import Settings
from openem.db import migrate
from openem.db.engine import make_engine
from openem.db.session import make_session_factory
from openem.subjects.models import Subject
from openem.web.caseload import alerts_table
from openem.web.seed_bench import seed

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/openem_bench_web"
TARGET_MS = 300.0
TRAIL_BYTES = 200_000
PASSWORD = "bench dashboard password"


def fresh_database(url: str) -> None:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    name = str(parsed.database)
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    target_dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(target_dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def _staff(url: str, settings: Settings) -> dict[str, str]:
    """A case worker (whose team holds every subject) and an operator; returns cookies."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    cookies = {}
    with factory() as session, session.begin():
        org: Organisation = access_service.create_organisation(
            session, principal=SYSTEM,
            data=OrganisationCreate(name="Bench", kind=OrganisationKind.home_office),
        )
        for role in (Role.caseworker, Role.operator):
            user: User = access_service.create_user(
                session, principal=SYSTEM,
                data=UserCreate(username=f"bench-{role.value}", display_name="Bench",
                                role=role, organisation_id=org.id, team="north",
                                password=PASSWORD),
            )
            opened = sessions.open_session(
                session, user=user, mfa_done=True, now=datetime.now(UTC),
                max_age=timedelta(hours=6), source="bench",
            )
            cookies[role.value] = opened.secret
    engine.dispose()
    return cookies


def _alerts(url: str, subject_ids: list[str], now: datetime) -> int:
    """Open alerts for the queue, raised through the alerts service (once it is installed)."""
    if alerts_table() is None:
        return 0
    import uuid

    from openem.alerts import raising  # type: ignore[import-not-found, unused-ignore]
    from openem.alerts.types import AlertType  # type: ignore[import-not-found, unused-ignore]

    engine = make_engine(url)
    kinds = list(AlertType)
    with make_session_factory(engine)() as session, session.begin():
        for n, subject_id in enumerate(subject_ids):
            raising.raise_alert(session, subject_id=uuid.UUID(subject_id),
                                alert_type=kinds[n % len(kinds)], key=f"bench-{n}",
                                started_at=now - timedelta(minutes=n), now=now)
    engine.dispose()
    return len(subject_ids)


def _time(call: Callable[[], Any], runs: int) -> tuple[list[float], list[Any]]:
    timings, results = [], []
    for _ in range(runs):
        started = time.perf_counter()
        results.append(call())
        timings.append((time.perf_counter() - started) * 1000)
    return sorted(timings), results


def _ids(url: str, heavy: int) -> tuple[list[str], list[str]]:
    engine = make_engine(url)
    with engine.connect() as connection:
        ids = [str(i) for i in connection.scalars(select(Subject.id).order_by(Subject.id))]
        heavy_ids = [str(i) for i in connection.scalars(text(
            "SELECT subject_id FROM devices WHERE serial LIKE 'BENCH-%' ORDER BY id LIMIT :n"
        ), {"n": heavy})]
    engine.dispose()
    return ids, heavy_ids


def run_dashboard_bench(
    *, database_url: str | None, subjects: int = 10_000, heavy: int = 200, days: float = 30,
    rest_hours: float = 24, runs: int = 40,
) -> dict[str, Any]:
    url = database_url or os.environ.get("OPENEM_BENCH_POSTGRES_URL") or DEFAULT_URL
    fresh_database(url)
    migrate.upgrade(url)
    now = datetime.now(UTC)
    engine = make_engine(url)
    loaded = seed(engine, now=now, subjects=subjects, heavy=heavy, days=days,
                  rest_hours=rest_hours)
    engine.dispose()
    settings = Settings(database_url=url, session_cookie_secure=False)
    cookies = _staff(url, settings)
    ids, heavy_ids = _ids(url, heavy)
    alerts = _alerts(url, ids[::20], now)
    from openem.app import create_app

    figures: dict[str, float] = {}
    with TestClient(create_app(settings)) as client:
        client.cookies.set(sessions.cookie_name(secure=False), cookies["caseworker"])
        rng = random.Random(8)

        def caseload() -> int:
            cursor = rng.choice(ids[: max(1, len(ids) - 60)])
            return client.get("/caseload", params={"cursor": cursor}).status_code

        def subject_with_trail() -> int:
            subject_id = rng.choice(heavy_ids)
            page = client.get(f"/subjects/{subject_id}")
            trail = client.get(
                f"/api/v1/subjects/{subject_id}/positions",
                params={"from": (now - timedelta(hours=24)).isoformat(), "to": now.isoformat(),
                        "purpose": "court_order", "zoom": 15},
                headers={"X-Purpose-Detail": "benchmark"},
            )
            assert page.status_code == 200 and trail.status_code == 200, trail.text
            return len(trail.content)

        def alert_queue() -> int:
            page = client.get("/alerts")
            listed = client.get("/api/v1/alerts", params={"status": "open", "limit": 500})
            assert page.status_code == 200 and listed.status_code == 200, listed.text
            return len(listed.content)

        pages: list[tuple[str, Callable[[], int]]] = [
            ("caseload", caseload), ("subject_trail_24h", subject_with_trail)
        ]
        if alerts_table() is not None:
            pages.append(("alert_queue", alert_queue))
        for name, call in pages:
            call()  # warm up
            timings, results = _time(call, runs)
            figures[f"{name}_p50_ms"] = round(percentile(timings, 50), 1)
            figures[f"{name}_p95_ms"] = round(percentile(timings, 95), 1)
            if name == "subject_trail_24h":
                figures["trail_24h_max_bytes"] = max(results)
    figures |= {"subjects": loaded.subjects, "positions": loaded.positions,
                "open_alerts": alerts, "seed_seconds": round(loaded.seconds, 1)}
    targets = {f"{n}_p95_ms": target(figures[f"{n}_p95_ms"], TARGET_MS, "<=")
               for n, _ in pages}
    targets["trail_24h_max_bytes"] = target(figures["trail_24h_max_bytes"], TRAIL_BYTES, "<=")
    return {
        "name": "dashboard",
        "machine": machine(),
        "figures": figures,
        "targets": targets,
        "notes": f"{heavy} subjects x {days:g} days and {subjects - heavy} x {rest_hours:g} h "
                 "of a fix a minute; alert queue = page + GET /api/v1/alerts?status=open"
                 + ("" if alerts else " (not measured: the alerts domain is not installed)"),
    }

