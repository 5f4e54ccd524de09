"""Planar homography between point sets: normalised DLT and RANSAC, numpy only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class HomographyFit:
    matrix: np.ndarray
    errors: np.ndarray
    inliers: np.ndarray


def _normaliser(points: np.ndarray) -> np.ndarray:
    centre = points.mean(axis=0)
    spread = np.sqrt(((points - centre) ** 2).sum(axis=1)).mean()
    scale = np.sqrt(2.0) / spread if spread > 0 else 1.0
    return np.array(
        [[scale, 0.0, -scale * centre[0]], [0.0, scale, -scale * centre[1]], [0.0, 0.0, 1.0]]
    )


def fit_homography(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares homography mapping source to target (>= 4 points, Hartley-normalised)."""
    src, dst = np.asarray(source, float), np.asarray(target, float)
    if len(src) < 4 or src.shape != dst.shape:
        raise ValueError("need at least 4 matching points")
    t_src, t_dst = _normaliser(src), _normaliser(dst)
    s = apply_homography(t_src, src)
    d = apply_homography(t_dst, dst)
    zeros = np.zeros(len(s))
    ones = np.ones(len(s))
    rows_x = np.column_stack(
        [
            -s[:, 0],
            -s[:, 1],
            -ones,
            zeros,
            zeros,
            zeros,
            d[:, 0] * s[:, 0],
            d[:, 0] * s[:, 1],
            d[:, 0],
        ]
    )
    rows_y = np.column_stack(
        [
            zeros,
            zeros,
            zeros,
            -s[:, 0],
            -s[:, 1],
            -ones,
            d[:, 1] * s[:, 0],
            d[:, 1] * s[:, 1],
            d[:, 1],
        ]
    )
    _, _, vt = np.linalg.svd(np.vstack([rows_x, rows_y]))
    normalised = vt[-1].reshape(3, 3)
    matrix = np.linalg.inv(t_dst) @ normalised @ t_src
    return np.asarray(matrix / matrix[2, 2] if abs(matrix[2, 2]) > 1e-12 else matrix)


def apply_homography(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.column_stack([np.asarray(points, float), np.ones(len(points))]) @ matrix.T
    w = pts[:, 2:3]
    w = np.where(np.abs(w) < 1e-12, 1e-12, w)
    return np.asarray(pts[:, :2] / w)


def transfer_errors(matrix: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.asarray(np.linalg.norm(apply_homography(matrix, source) - target, axis=1))


def _iterations_for(inlier_fraction: float, confidence: float = 0.999) -> int:
    """Samples needed to draw one all-inlier 4-point sample with the given confidence."""
    clean = inlier_fraction**4
    if clean >= 1.0:
        return 1
    if clean <= 0.0:
        return 1_000_000
    return int(np.ceil(np.log(1.0 - confidence) / np.log(1.0 - clean)))


def ransac_homography(
    source: np.ndarray,
    target: np.ndarray,
    *,
    inlier_px: float,
    iterations: int = 300,
    seed: int = 0,
) -> HomographyFit:
    """Robust fit: best 4-point model by inlier count, refitted on its inliers."""
    src, dst = np.asarray(source, float), np.asarray(target, float)
    rng = np.random.default_rng(seed)
    best = np.zeros(len(src), dtype=bool)
    needed = iterations
    done = 0
    while done < min(iterations, needed):
        done += 1
        sample = rng.choice(len(src), 4, replace=False)
        try:
            candidate = fit_homography(src[sample], dst[sample])
        except np.linalg.LinAlgError:
            continue
        inliers = transfer_errors(candidate, src, dst) < inlier_px
        if inliers.sum() > best.sum():
            best = inliers
            needed = _iterations_for(float(best.mean()))
    matrix = fit_homography(src[best], dst[best]) if best.sum() >= 4 else fit_homography(src, dst)
    errors = transfer_errors(matrix, src, dst)
    return HomographyFit(matrix=matrix, errors=errors, inliers=errors < inlier_px)


def warp_perspective(image: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Warp an RGB image so that a point p moves to homography @ p."""
    inverse = np.linalg.inv(homography)
    inverse = inverse / inverse[2, 2]
    coeffs = tuple(float(c) for c in inverse.reshape(-1)[:8])
    pil = Image.fromarray(np.ascontiguousarray(image))
    warped = pil.transform(pil.size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)
    return np.asarray(warped)
