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
    nearest = _unit(0) + 0.1 * _unit(5)
    expected_min = np.linalg.norm(_unit(0) - nearest / np.linalg.norm(nearest))
    assert template_distance(template, burst, fusion="min") == pytest.approx(expected_min)


def test_with_one_enrolment_photo_mean_and_centroid_agree() -> None:
    rng = np.random.default_rng(0)
    template = build_template(descriptors=[rng.normal(size=128)])
    burst = list(rng.normal(size=(3, 128)))
    assert template_distance(template, burst, fusion="mean") == pytest.approx(
        template_distance(template, burst, fusion="centroid")
    )


def test_descriptors_are_compared_by_direction_not_length() -> None:
    rng = np.random.default_rng(1)
    enrolment = list(rng.normal(size=(3, 128)))
    burst = list(rng.normal(size=(2, 128)))
    template = build_template(descriptors=enrolment)
    rescaled = build_template(descriptors=[1.3 * d for d in enrolment])
    for fusion in ("mean", "centroid", "min"):
        distance = template_distance(template, burst, fusion=fusion)
        assert template_distance(rescaled, [0.7 * d for d in burst], fusion=fusion) == (
            pytest.approx(distance)
        )
        assert 0.0 <= distance <= 2.0
