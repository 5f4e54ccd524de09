from __future__ import annotations

import numpy as np
import pytest

from openem.biometrics.threshold import calibrate_threshold, fmr_supported, threshold_at_fmr


def test_threshold_admits_at_most_the_target_share_of_impostors() -> None:
    impostors = np.arange(1, 11) / 10.0
    threshold = threshold_at_fmr(impostors, 0.1)
    assert 0.1 <= threshold < 0.2
    assert np.mean(impostors <= threshold) == pytest.approx(0.1)


def test_zero_allowed_false_matches_puts_the_threshold_below_every_impostor() -> None:
    assert threshold_at_fmr(np.array([0.5, 0.7, 0.9]), 0.1) < 0.5


def test_calibration_reports_when_there_are_too_few_impostors_for_the_rate() -> None:
    few = calibrate_threshold(impostor_distances=np.linspace(0.3, 1.0, 1000), target_fmr=1e-3)
    assert not few.supported
    enough = calibrate_threshold(impostor_distances=np.linspace(0.3, 1.0, 3000), target_fmr=1e-3)
    assert enough.supported
    assert enough.achieved_fmr <= 1e-3
    assert enough.impostor_count == 3000


def test_rule_of_three() -> None:
    assert fmr_supported(impostor_count=300, fmr=1e-2)
    assert not fmr_supported(impostor_count=299, fmr=1e-2)
