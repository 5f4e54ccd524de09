from __future__ import annotations

import numpy as np
import pytest

from openem.fairness import metrics


def test_auc_counts_genuine_below_impostor_pairs() -> None:
    assert metrics.roc_auc(np.array([0.1, 0.2]), np.array([0.15, 0.3])) == pytest.approx(0.75)


def test_auc_counts_ties_as_half() -> None:
    assert metrics.roc_auc(np.array([0.5]), np.array([0.5])) == pytest.approx(0.5)


def test_equal_error_rate_where_false_matches_equal_false_non_matches() -> None:
    genuine = np.array([0.1, 0.2, 0.3, 0.4])
    impostor = np.array([0.35, 0.5, 0.6, 0.7])
    assert metrics.equal_error_rate(genuine, impostor) == pytest.approx(0.25)


def test_error_rates_at_a_threshold() -> None:
    fmr, fnmr = metrics.error_rates(np.array([0.1, 0.2, 0.6]), np.array([0.3, 0.5, 0.9, 1.0]), 0.5)
    assert fmr == pytest.approx(0.5)
    assert fnmr == pytest.approx(1 / 3)


def test_fnmr_at_fmr_and_whether_the_impostor_count_supports_it() -> None:
    impostor = np.linspace(0.5, 1.5, 400)
    genuine = np.array([0.1, 0.2, 0.3, 0.55, 0.9])
    point = metrics.fnmr_at_fmr(genuine, impostor, 1e-2)
    assert point.supported
    assert np.mean(impostor <= point.threshold) <= 1e-2
    assert point.fnmr == pytest.approx(0.4)
    assert not metrics.fnmr_at_fmr(genuine, impostor, 1e-3).supported


def test_worst_to_best_group_ratio() -> None:
    assert metrics.group_ratio({"female": 0.04, "male": 0.02}) == pytest.approx(2.0)
    assert metrics.group_ratio({"female": 0.04, "male": 0.0}) is None
    assert metrics.group_ratio({"female": 0.04}) is None


def test_failure_to_acquire_is_the_share_of_images_without_a_face() -> None:
    assert metrics.failure_to_acquire(np.array([True, True, False, True])) == pytest.approx(0.25)


def test_lfw_protocol_accuracy_on_separable_folds_is_perfect() -> None:
    distances = np.array([0.1, 0.9, 0.2, 0.8, 0.3, 0.7])
    same = np.array([True, False, True, False, True, False])
    folds = np.array([1, 1, 2, 2, 3, 3])
    assert metrics.lfw_accuracy(distances, same, folds) == (1.0, 0.0)


def test_bootstrap_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(0)
    genuine, impostor = rng.normal(0.4, 0.1, 300), rng.normal(0.8, 0.1, 300)
    low, high = metrics.bootstrap_ci(metrics.roc_auc, genuine, impostor, resamples=100)
    assert low <= metrics.roc_auc(genuine, impostor) <= high


def test_det_curve_runs_from_all_rejected_to_all_accepted() -> None:
    fmr, fnmr = metrics.det_curve(np.array([0.1, 0.4]), np.array([0.3, 0.9]))
    assert fmr[-1] == 1.0 and fnmr[-1] == 0.0
    assert np.all(np.diff(fmr) >= 0) and np.all(np.diff(fnmr) <= 0)
