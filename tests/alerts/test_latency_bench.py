"""The latency half of `openem bench rules`: every probe's alert reaches the stream."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openem.alerts.latency import run_alert_latency
from openem.bench_cli import bench_app
from openem.bench_common import NotABenchDatabase
from openem.devices.models import Device
from openem.subjects.models import Subject
from tests.support import factories


def test_alert_latency_is_measured_for_every_probe() -> None:
    figures = run_alert_latency(seconds=1.0, rate=200, subjects=10, probes=4)
    assert figures["alerts_measured"] == 4 and figures["alerts_missing"] == 0
    assert 0 < figures["alert_latency_p50_s"] <= figures["alert_latency_p99_s"] < 5


def test_bench_rules_is_a_command_of_the_bench_group() -> None:
    assert "rules" in [c.name for c in bench_app.registered_commands]


def test_the_latency_bench_refuses_a_database_holding_real_subjects(
    database_url: str, session: Session
) -> None:
    factories.subject(session)
    session.commit()
    with pytest.raises(NotABenchDatabase, match="alert latency bench adds fictional subjects"):
        run_alert_latency(seconds=0.5, rate=100, subjects=2, probes=1, database_url=database_url)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Subject)) == 1
    assert session.scalar(select(func.count()).select_from(Device)) == 0
