"""`openem bench ingest-paired`: two checkouts' servers loaded in turn, round by round."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from openem.cli import app
from openem.ingest.bench_paired import MIGRATIONS, DifferentSchemas, run_paired, this_checkout


def test_each_round_loads_both_servers_and_the_ratios_are_per_round() -> None:
    here = this_checkout()
    result = run_paired(start=here, end=here, postgresql=False, mode="single", rounds=2,
                        seconds=0.3, devices=8)
    figures = result["figures"]
    assert (result["name"], result["database"], result["mode"]) == (
        "ingest-paired", "sqlite", "single")
    for side in ("start", "end"):
        assert len(figures[f"{side}_fixes_per_s"]) == 2
        assert all(rate > 0 for rate in figures[f"{side}_fixes_per_s"])
        assert all(cpu > 0 for cpu in figures[f"{side}_server_cpu_ms_per_fix"])
    ratios = [e / s for s, e in zip(figures["start_fixes_per_s"], figures["end_fixes_per_s"],
                                    strict=True)]
    assert figures["end_to_start_fixes_per_s_median"] == pytest.approx(
        sum(ratios) / 2, rel=1e-3)
    assert figures["failed_requests"] == 0


def test_checkouts_with_different_migrations_are_refused(tmp_path: Path) -> None:
    versions = tmp_path / MIGRATIONS
    versions.mkdir(parents=True)
    (versions / "0001_foundation.py").write_text("")
    with pytest.raises(DifferentSchemas):
        run_paired(start=tmp_path, end=this_checkout(), postgresql=False, mode="single",
                   rounds=1, seconds=0.1)
    result = CliRunner().invoke(app, ["bench", "ingest-paired", "--start", str(tmp_path)],
                                env={"COLUMNS": "400"})
    assert result.exit_code == 2 and "different migrations" in result.output


def test_a_folder_that_is_no_checkout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DifferentSchemas, match="no OpenEM checkout at"):
        run_paired(start=tmp_path, end=this_checkout(), postgresql=False, mode="single",
                   rounds=1, seconds=0.1)


def test_an_unknown_phase_is_refused() -> None:
    result = CliRunner().invoke(
        app, ["bench", "ingest-paired", "--start", str(this_checkout()), "--mode", "noop"],
        env={"COLUMNS": "400"})
    assert result.exit_code == 2 and "one of single, batch" in result.output
