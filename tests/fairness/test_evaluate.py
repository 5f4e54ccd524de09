from __future__ import annotations

from pathlib import Path

import pytest

from openem.fairness.evaluate import evaluate_faces
from tests.fairness.faces_dir import faces_dir

pytestmark = [pytest.mark.faces, pytest.mark.slow]


def test_a_bounded_evaluation_reports_the_published_shape(tmp_path: Path) -> None:
    report = evaluate_faces(
        faces_dir(), limit_pairs=100, seed=1, calibrate_fmr=1e-3, plots_dir=tmp_path, workers=2,
        enrol_jitters=2,
    )
    assert report["name"] == "faces"
    assert set(report) == {"name", "machine", "figures", "targets", "groups", "peer"}
    figures = report["figures"]
    assert figures["genuine_pairs"] + figures["impostor_pairs"] == 100
    assert figures["enrolment_jitters"] == 2
    assert figures["roc_auc"] > 0.97
    assert figures["pair_accuracy"] > 0.9
    assert figures["fnmr_at_fmr_1e-04_supported"] is False
    assert figures["fnmr_at_fmr_1e-04"] is None
    assert 0.0 <= figures["prompt_gar"] <= 1.0
    assert figures["prompt_level"]["calibration"] == "cross-half"
    for target in report["targets"].values():
        assert target["op"] in (">=", "<=") and isinstance(target["met"], bool)
    assert set(report["groups"]["sex"]["values"]) == {"female", "male"}
    for group in report["groups"]["sex"]["values"].values():
        assert group["prompt_impostor"] > 0 and 0.0 <= group["prompt_far"] <= 1.0
    assert 0.0 <= figures["checkin_gate_pass_rate"] <= 1.0
    assert report["peer"]["roc_auc"] > 0.97
    assert all(Path(p).stat().st_size > 0 for p in figures["plots"])
