"""The latency half of `openem bench rules`: every probe's alert reaches the stream."""

from __future__ import annotations

from openem.alerts.latency import run_alert_latency
from openem.bench_cli import bench_app


def test_alert_latency_is_measured_for_every_probe() -> None:
    figures = run_alert_latency(seconds=1.0, rate=200, subjects=10, probes=4)
    assert figures["alerts_measured"] == 4 and figures["alerts_missing"] == 0
    assert 0 < figures["alert_latency_p50_s"] <= figures["alert_latency_p99_s"] < 5


def test_bench_rules_is_a_command_of_the_bench_group() -> None:
    assert "rules" in [c.name for c in bench_app.registered_commands]
