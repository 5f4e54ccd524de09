"""`openem demo` shows the whole loop within minutes: moving trails, real alerts, and face
check-ins that pass and fail."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.server import free_port, openem_command, wait_for_health

pytestmark = pytest.mark.slow

WANTED_ALERTS = {"curfew_absence", "exclusion_zone_entry", "strap_tamper", "checkin_failed"}
FACE_CHECKIN_REFERENCES = ("DEMO-00001", "DEMO-00002", "DEMO-00004", "DEMO-00005")
DEADLINE_S = 150


def _logins(log: Path, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tokens = {line.split()[0]: line.split()[-1] for line in log.read_text().splitlines()
                  if line.startswith("  ") and "oem_" in line}
        if "admin" in tokens and "operator" in tokens:
            return tokens
        time.sleep(0.2)
    raise TimeoutError("the demo did not print its logins")


def _alert_types(client: httpx.Client, token: str) -> set[str]:
    response = client.get("/api/v1/alerts", params={"limit": 200},
                          headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return {alert["type"] for alert in response.json()["items"]}


def _checkin_outcomes(client: httpx.Client, token: str) -> set[str]:
    """Decision outcomes (match, no_match, liveness_failed) of the wearers prompted at start."""
    headers = {"Authorization": f"Bearer {token}", "X-Purpose-Detail": "demo check"}
    outcomes: set[str] = set()
    for reference in FACE_CHECKIN_REFERENCES:
        found = client.get("/api/v1/subjects", params={"reference": reference}, headers=headers)
        found.raise_for_status()
        for subject in found.json()["items"]:
            decisions = client.get(f"/api/v1/subjects/{subject['id']}/checkins", headers=headers)
            decisions.raise_for_status()
            outcomes |= {decision["outcome"] for decision in decisions.json()}
    return outcomes


def _trail_points(client: httpx.Client, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "X-Purpose-Detail": "demo check"}
    subjects = client.get("/api/v1/subjects", params={"limit": 5}, headers=headers).json()["items"]
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(hours=1)).isoformat(), "to": now.isoformat(),
              "purpose": "welfare_concern"}
    total = 0
    for subject in subjects:
        trail = client.get(f"/api/v1/subjects/{subject['id']}/positions", params=window,
                           headers=headers).json()
        total += sum(1 for f in trail["features"] if f["geometry"]["type"] == "Point")
    return total


def test_demo_raises_alerts_shows_passed_and_failed_checkins_with_moving_trails(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("OPENEM_")}
    env |= {"OPENEM_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}", "OPENEM_PORT": str(port),
            "OPENEM_DATA_DIR": str(tmp_path / "var"), "OPENEM_KEY_FILE": str(tmp_path / "key")}
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        # Its own process group: the demo starts the simulator, and a demo that has to be
        # killed must not leave the simulator running.
        demo = subprocess.Popen([*openem_command(), "demo", "--subjects", "20"], env=env,
                                cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        logins = _logins(log, timeout=120)
        wait_for_health(base, timeout=60)
        seen: set[str] = set()
        outcomes: set[str] = set()
        with httpx.Client(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + DEADLINE_S
            while time.monotonic() < deadline and not (
                seen >= WANTED_ALERTS and outcomes >= {"match", "no_match"}
            ):
                time.sleep(3)
                seen |= _alert_types(client, logins["operator"])
                outcomes |= _checkin_outcomes(client, logins["operator"])
            points = _trail_points(client, logins["supervisor"])
        assert seen >= WANTED_ALERTS, f"alerts seen: {sorted(seen)}"
        assert points >= 10
        assert "match" in outcomes, f"check-in outcomes seen: {sorted(outcomes)}"
        assert "no_match" in outcomes, f"check-in outcomes seen: {sorted(outcomes)}"
    finally:
        demo.terminate()
        try:
            demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)
