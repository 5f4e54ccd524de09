from __future__ import annotations

import pytest

from openem.biometrics.bench import run_checkins_bench
from tests.fairness.faces_dir import faces_dir

pytestmark = [pytest.mark.faces, pytest.mark.slow]


def test_a_short_checkin_bench_reports_throughput_latency_and_attack_rates() -> None:
    # Short: one second of load and one overhead timing per case prove the figures are
    # produced; the real benchmark (`openem bench checkins`) runs longer, best of three.
    report = run_checkins_bench(faces_dir(), seconds=1.0, workers=2, people=6, overhead_repeats=1)
    figures = report["figures"]
    assert report["name"] == "checkins"
    assert figures["checkins_per_second"] > 0
    assert figures["latency_p95_ms"] >= figures["latency_p50_ms"] > 0
    assert figures["pipeline_overhead"] > 0
    assert figures["apcer_static"] == 0.0
    assert figures["apcer_planar_warped"] == 0.0
    assert set(report["targets"]) == {
        "checkins_per_second",
        "pipeline_overhead",
        "apcer_static",
        "apcer_planar_warped",
    }
