"""`openem eval faces` and `openem bench checkins`: wiring and the calibrated threshold.

The evaluation and the benchmark themselves are measured in tests/fairness and
tests/biometrics; here they are stubbed so the command's own behaviour is quick to check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openem.cli import app
from openem.config import Settings

runner = CliRunner()


def _report(threshold: float) -> dict[str, Any]:
    return {"name": "faces", "machine": {}, "figures": {"threshold": threshold},
            "targets": {}}


def test_eval_faces_calibrate_writes_the_threshold_to_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def evaluate(directory: Path, **options: Any) -> dict[str, Any]:
        seen.update(options, directory=directory)
        return _report(0.4875)

    monkeypatch.setattr("openem.fairness.evaluate.evaluate_faces", evaluate)
    config = tmp_path / "openem.env"
    config.write_text("OPENEM_LOG_JSON=1\nOPENEM_FACE_THRESHOLD=0.6\n")
    result = runner.invoke(app, ["eval", "faces", str(tmp_path), "--json", "--calibrate",
                                 "--fmr", "1e-4", "--limit-pairs", "50", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["figures"]["threshold"] == 0.4875
    assert seen["calibrate_fmr"] == 1e-4 and seen["limit_pairs"] == 50
    assert config.read_text().splitlines() == ["OPENEM_LOG_JSON=1",
                                               "OPENEM_FACE_THRESHOLD=0.487500"]
    monkeypatch.setenv("OPENEM_FACE_THRESHOLD", "0.487500")
    assert Settings().face_threshold == pytest.approx(0.4875)


def test_eval_faces_without_calibrate_leaves_config_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("openem.fairness.evaluate.evaluate_faces",
                        lambda directory, **options: _report(0.5))
    result = runner.invoke(app, ["eval", "faces", str(tmp_path), "--json",
                                 "--config", str(tmp_path / "openem.env")])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "openem.env").exists()


def test_bench_checkins_prints_the_benchmark_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bench(faces: Path, *, seconds: float, workers: int, people: int) -> dict[str, Any]:
        return {"name": "checkins", "figures": {"checkins_per_s": 9.0, "seconds": seconds},
                "targets": {}}

    monkeypatch.setattr("openem.biometrics.bench.run_checkins_bench", bench)
    result = runner.invoke(app, ["bench", "checkins", "--json", "--seconds", "3",
                                 "--faces", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["figures"] == {"checkins_per_s": 9.0, "seconds": 3.0}


def test_the_68_point_switch_is_a_declared_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from openem.biometrics.model import LANDMARKS_68_ENV, landmarks_68_enabled

    monkeypatch.setenv(LANDMARKS_68_ENV, "1")
    assert Settings().biometrics_landmarks_68 is True
    assert landmarks_68_enabled()
