"""The dashboard benchmark runs end to end at a tiny size and prints the contract's shape."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import URL, make_url

from openem.web.bench import run_dashboard_bench
from tests.conftest import IN_CI, POSTGRES_URL

pytestmark = pytest.mark.postgres


def _drop(url: URL) -> None:
    admin = url.set(drivername="postgresql", database="postgres")
    try:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    except psycopg.OperationalError:
        pass


def test_dashboard_bench_reports_figures_and_targets() -> None:
    url = make_url(POSTGRES_URL).set(database=f"{make_url(POSTGRES_URL).database}_bench")
    try:
        result = run_dashboard_bench(
            database_url=url.render_as_string(hide_password=False),
            subjects=60, heavy=3, days=0.2, rest_hours=0.5, runs=2,
        )
    except psycopg.OperationalError as error:
        if IN_CI:
            raise
        pytest.skip(f"PostgreSQL not reachable: {error}")
    finally:
        _drop(url)
    figures = result["figures"]
    assert result["name"] == "dashboard"
    assert figures["subjects"] == 60
    assert figures["positions"] == 3 * 288 + 57 * 30
    assert {"caseload_p95_ms", "subject_trail_24h_p95_ms", "trail_24h_max_bytes"} <= set(figures)
    assert result["targets"]["trail_24h_max_bytes"]["met"]
