from __future__ import annotations

import numpy as np

from openem.biometrics.homography import apply_homography, fit_homography, ransac_homography

TRUE = np.array([[1.1, 0.2, 5.0], [-0.05, 0.95, -3.0], [0.0008, -0.0004, 1.0]])


def _grid() -> np.ndarray:
    ys, xs = np.mgrid[0:100:10, 0:100:10]
    return np.column_stack([xs.ravel(), ys.ravel()]).astype(float)


def test_dlt_recovers_a_known_homography() -> None:
    source = _grid()
    fitted = fit_homography(source, apply_homography(TRUE, source))
    np.testing.assert_allclose(fitted, TRUE, rtol=1e-6, atol=1e-8)


def test_ransac_ignores_gross_outliers() -> None:
    source = _grid()
    target = apply_homography(TRUE, source)
    target[:15] += np.random.default_rng(1).normal(0, 20, (15, 2))
    fit = ransac_homography(source, target, inlier_px=0.5)
    assert fit.inliers[15:].all()
    assert not fit.inliers[:15].any()
