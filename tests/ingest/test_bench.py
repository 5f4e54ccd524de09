"""The ingest benchmark runs end to end (real server, separate signing load generators)."""

from __future__ import annotations

from pathlib import Path

from openem.ingest.bench import run_ingest_bench

FIGURES = (
    "noop_requests_per_s", "single_requests_per_s", "single_p50_ms", "single_p99_ms",
    "single_ratio_to_ceiling", "single_paced_requests_per_s", "single_paced_p99_ms",
    "batch_fixes_per_s", "raw_insert_rows_per_s", "batch_ratio_to_raw",
    "raw_from_python_rows_per_s", "batch_ratio_to_raw_from_python",
    "noop_server_cpu_ms_per_request", "single_server_cpu_ms_per_request",
    "batch_server_cpu_ms_per_fix",
    "national_batch_fixes_per_s", "national_batch_p99_ms",
)


def test_ingest_bench_prints_every_figure_with_its_target(tmp_path: Path) -> None:
    result = run_ingest_bench(
        database_urls={"sqlite": f"sqlite:///{tmp_path / 'bench.db'}"}, seconds=0.5
    )
    figures = result["figures"]
    assert result["name"] == "ingest"
    for name in FIGURES:
        assert figures[f"sqlite.{name}"] > 0, name
    assert figures["sqlite.failed_requests"] == 0
    ratio = figures["sqlite.batch_fixes_per_s"] / figures["sqlite.raw_insert_rows_per_s"]
    assert abs(figures["sqlite.batch_ratio_to_raw"] - ratio) < 0.002
    assert set(result["targets"]) >= {
        "sqlite.batch_ratio_to_raw", "sqlite.single_requests_per_s", "sqlite.single_p99_ms",
        "sqlite.national_batch_p99_ms", "sqlite.single_ratio_to_ceiling",
    }
