"""Is the motion between two frames that of a flat picture?

A photo or screen moved, tilted or warped in front of the camera maps frame to frame
by one homography; a turning head does not (nose and cheeks move with parallax).
Default (5-point) path: texture patches of the two aligned face chips are matched by
normalised cross-correlation and a RANSAC homography is fitted to the matches. With
the optional 68-point landmarks the landmark sets are fitted as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from openem.biometrics.homography import ransac_homography, warp_perspective
from openem.biometrics.quality import to_gray

PATCH_HALF = 7
SEARCH_RADIUS = 10
GRID_STEP = 12
MIN_PATCH_STD = 6.0
MIN_CORRELATION = 0.75
MIN_MATCHES = 16
INLIER_PX = 1.0
COARSE_INLIER_PX = 2.0
REFINE_RADIUS = 4
COARSE_ITERATIONS = 80
TEST_ITERATIONS = 40
PLANAR_INLIER_FRACTION = 0.8
LANDMARK_INLIER_FRACTION_OF_EYE = 0.03


@dataclass(frozen=True)
class PlanarityResult:
    planar: bool
    conclusive: bool
    matches: int
    inlier_fraction: float
    median_error_px: float


def _subpixel(scores: np.ndarray, row: int, col: int) -> tuple[float, float]:
    def vertex(a: float, b: float, c: float) -> float:
        denom = a - 2.0 * b + c
        return 0.0 if abs(denom) < 1e-9 else float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))

    dy = dx = 0.0
    if 0 < row < scores.shape[0] - 1:
        dy = vertex(scores[row - 1, col], scores[row, col], scores[row + 1, col])
    if 0 < col < scores.shape[1] - 1:
        dx = vertex(scores[row, col - 1], scores[row, col], scores[row, col + 1])
    return dy, dx


def _window_std(window: np.ndarray, side: int) -> np.ndarray:
    """Standard deviation of every side x side window, from summed-area tables."""

    def box_mean(values: np.ndarray) -> np.ndarray:
        table = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
        table[1:, 1:] = values.cumsum(axis=0).cumsum(axis=1)
        total = (
            table[side:, side:]
            - table[:-side, side:]
            - table[side:, :-side]
            + table[:-side, :-side]
        )
        return np.asarray(total / (side * side))

    mean = box_mean(window)
    return np.sqrt(np.maximum(box_mean(window * window) - mean * mean, 0.0))


def match_patches(
    first: np.ndarray, second: np.ndarray, *, radius: int = SEARCH_RADIUS
) -> tuple[np.ndarray, np.ndarray]:
    """Points (x, y) in the first chip and their matches in the second, by patch NCC."""
    a, b = to_gray(first), to_gray(second)
    size = a.shape[0]
    margin = PATCH_HALF + SEARCH_RADIUS
    lo, hi = max(margin, int(size * 0.22)), min(size - margin, int(size * 0.82))
    src: list[tuple[float, float]] = []
    dst: list[tuple[float, float]] = []
    side = 2 * PATCH_HALF + 1
    for y in range(lo, hi, GRID_STEP):
        for x in range(lo, hi, GRID_STEP):
            patch = a[y - PATCH_HALF : y + PATCH_HALF + 1, x - PATCH_HALF : x + PATCH_HALF + 1]
            if patch.std() < MIN_PATCH_STD:
                continue
            reach = PATCH_HALF + radius
            window = b[y - reach : y + reach + 1, x - reach : x + reach + 1]
            candidates = sliding_window_view(window, (side, side))
            p = (patch - patch.mean()) / (patch.std() * patch.size)
            c_std = _window_std(window, side)
            scores = np.einsum("ijkl,kl->ij", candidates, p) / np.maximum(c_std, 1e-6)
            row, col = np.unravel_index(int(np.argmax(scores)), scores.shape)
            if scores[row, col] < MIN_CORRELATION:
                continue
            dy, dx = _subpixel(scores, int(row), int(col))
            src.append((float(x), float(y)))
            dst.append((x + col - radius + dx, y + row - radius + dy))
    return np.array(src).reshape(-1, 2), np.array(dst).reshape(-1, 2)


def texture_planarity(first_chip: np.ndarray, second_chip: np.ndarray) -> PlanarityResult:
    """Coarse homography from patch matches, then re-match after undoing it and refit."""
    src, dst = match_patches(first_chip, second_chip)
    if len(src) < MIN_MATCHES:
        return PlanarityResult(False, False, len(src), 0.0, float("nan"))
    coarse = ransac_homography(src, dst, inlier_px=COARSE_INLIER_PX, iterations=COARSE_ITERATIONS)
    undone = warp_perspective(second_chip, np.linalg.inv(coarse.matrix))
    src, dst = match_patches(first_chip, undone, radius=REFINE_RADIUS)
    if len(src) < MIN_MATCHES:
        return PlanarityResult(False, False, len(src), 0.0, float("nan"))
    fit = ransac_homography(src, dst, inlier_px=INLIER_PX, iterations=TEST_ITERATIONS)
    fraction = float(fit.inliers.mean())
    return PlanarityResult(
        planar=fraction >= PLANAR_INLIER_FRACTION,
        conclusive=True,
        matches=len(src),
        inlier_fraction=fraction,
        median_error_px=float(np.median(fit.errors)),
    )


def landmark_planarity(
    first: np.ndarray, second: np.ndarray, *, inter_eye: float
) -> PlanarityResult:
    """68-point landmark sets related by one homography within 3% of the eye distance."""
    inlier_px = max(LANDMARK_INLIER_FRACTION_OF_EYE * inter_eye, 0.5)
    fit = ransac_homography(first, second, inlier_px=inlier_px)
    fraction = float(fit.inliers.mean())
    return PlanarityResult(
        planar=fraction >= PLANAR_INLIER_FRACTION,
        conclusive=True,
        matches=len(first),
        inlier_fraction=fraction,
        median_error_px=float(np.median(fit.errors)),
    )
