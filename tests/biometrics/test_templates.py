from __future__ import annotations

import numpy as np
import pytest

from openem.biometrics.templates import build_template, template_distance


def _unit(index: int) -> np.ndarray:
    vector = np.zeros(128)
    vector[index] = 1.0
    return vector


def test_mean_fusion_averages_distances_to_each_enrolment_photo() -> None:
    template = build_template(descriptors=[_unit(0), _unit(1), _unit(2)])
    probe = _unit(0)
    expected = (0.0 + np.sqrt(2) + np.sqrt(2)) / 3
    assert template_distance(template, [probe], fusion="mean") == pytest.approx(expected)


def test_a_burst_is_averaged_before_it_is_compared() -> None:
    template = build_template(descriptors=[_unit(0)])
    burst = [_unit(0) + 0.1 * _unit(5), _unit(0) - 0.1 * _unit(5)]
    for fusion in ("mean", "centroid"):
        assert template_distance(template, burst, fusion=fusion) == pytest.approx(0.0)
    assert template_distance(template, burst, fusion="min") == pytest.approx(0.1)


def test_with_one_enrolment_photo_mean_and_centroid_agree() -> None:
    rng = np.random.default_rng(0)
    template = build_template(descriptors=[rng.normal(size=128)])
    burst = list(rng.normal(size=(3, 128)))
    assert template_distance(template, burst, fusion="mean") == pytest.approx(
        template_distance(template, burst, fusion="centroid")
    )
