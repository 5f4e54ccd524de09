from __future__ import annotations

import os

import pytest

from openem.rules.bench import run_rules_bench


def test_rules_bench_reports_the_common_benchmark_shape() -> None:
    report = run_rules_bench(database_url=None, seconds=0.2, subjects=100, seed=3)
    assert report["name"] == "rules"
    assert report["figures"]["positions_per_s_per_core"] > 0
    assert set(report["targets"]) == {"positions_per_s_per_core"}
    target = report["targets"]["positions_per_s_per_core"]
    assert target["op"] == ">=" and target["target"] == 100_000
    assert target["met"] == (report["figures"]["positions_per_s_per_core"] >= 100_000)


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("OPENEM_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="set OPENEM_TEST_DATABASE_URL to a PostgreSQL/PostGIS database",
)
def test_rules_bench_compares_with_postgis() -> None:
    report = run_rules_bench(database_url=os.environ["OPENEM_TEST_DATABASE_URL"], seconds=0.5,
                             subjects=200, seed=3)
    figures = report["figures"]
    assert figures["postgis_points_per_s"] > 0
    assert figures["ratio_vs_postgis"] == pytest.approx(
        figures["positions_per_s_per_core"] / figures["postgis_points_per_s"], rel=0.01
    )
    assert figures["inside_pairs_agreement"] > 0.99
    assert "ratio_vs_postgis" in report["targets"]
