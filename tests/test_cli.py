"""The `openem` command: help, migrate, demo seeding and serve."""

from __future__ import annotations

from pathlib import Path

import httpx
from typer.testing import CliRunner

from openem.cli import app
from tests.support.server import SeededDemo, free_port, running, wait_for_health

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "migrate", "demo", "users", "purge", "sar", "keys"):
        assert command in result.output


def test_demo_without_serving_seeds_fictional_data_and_prints_logins(
    seeded_demo: SeededDemo,
) -> None:
    stdout = seeded_demo.stdout
    for role in ("caseworker", "operator", "police", "approver", "auditor"):
        assert role in stdout
    assert "http://127.0.0.1:8000/" in stdout
    token = next(
        line.split()[-1] for line in stdout.splitlines() if line.strip().startswith("caseworker")
    )
    assert token.startswith("oem_")


def test_serve_on_sqlite_answers_health_and_api(tmp_path: Path) -> None:
    port = free_port()
    env = {"OPENEM_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}", "OPENEM_PORT": str(port)}
    with running(["serve"], env=env, cwd=tmp_path):
        wait_for_health(f"http://127.0.0.1:{port}", timeout=30)
        response = httpx.get(f"http://127.0.0.1:{port}/api/v1/subjects")
        assert response.status_code == 401
