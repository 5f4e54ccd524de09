"""Synthetic check-in bursts for tests, benchmarks and attack evaluation.

There is no public video of consenting people turning their heads in this setup, so
bursts are made from still photos:
- ``simulated_turn``: a genuine-like burst; pixels are shifted by a depth map (an
  ellipsoid face with a nose bump placed from the landmarks), which gives the
  parallax a real turning or nodding head shows. An approximation, not a real 3D head.
- ``static_replay``: the same photo repeated with sensor noise.
- ``planar_replay``: one photo warped by a perspective homography plus shear chosen to
  fake the requested motion, as an attacker tilting a printed photo or a screen would.
"""

from __future__ import annotations

import numpy as np

from openem.biometrics.homography import warp_perspective
from openem.biometrics.liveness import Challenge
from openem.biometrics.pose import eye_centres, nose_point

FRAMES = 3


def add_noise(image: np.ndarray, *, sigma: float, rng: np.random.Generator) -> np.ndarray:
    noisy = image.astype(np.float64) + rng.normal(0.0, sigma, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _bilinear(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    xs = np.clip(xs, 0, w - 1.001)
    ys = np.clip(ys, 0, h - 1.001)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = (xs - x0)[..., None], (ys - y0)[..., None]
    img = image.astype(np.float64)
    top = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
    bottom = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
    return np.clip(top * (1 - fy) + bottom * fy, 0, 255).astype(np.uint8)


def _depth(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    left, right = eye_centres(landmarks)
    eye = float(np.linalg.norm(right - left))
    mid = (left + right) / 2.0
    nose = nose_point(landmarks)
    centre = mid + 0.6 * (nose - mid)
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    rx, ry = 1.15 * eye, 1.6 * eye
    head = 1.0 - ((xs - centre[0]) / rx) ** 2 - ((ys - centre[1]) / ry) ** 2
    depth = 0.8 * rx * np.sqrt(np.clip(head, 0.0, None))
    tip = mid + 0.85 * (nose - mid)
    bump = np.exp(-(((xs - tip[0]) ** 2 + (ys - tip[1]) ** 2) / (2 * (0.28 * eye) ** 2)))
    return np.asarray(depth + 0.55 * eye * bump)


def simulated_turn(
    image: np.ndarray,
    *,
    landmarks: np.ndarray,
    challenge: Challenge,
    degrees: float = 20.0,
    seed: int = 0,
) -> list[np.ndarray]:
    """A burst facing the camera, then turning (or nodding) by up to ``degrees``."""
    rng = np.random.default_rng(seed)
    depth = _depth(image.shape[:2], landmarks)
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(np.float64)
    frames = [add_noise(image, sigma=2.0, rng=rng)]
    for step in range(1, FRAMES):
        shift = np.sin(np.radians(degrees * step / (FRAMES - 1))) * depth
        if challenge is Challenge.TURN_LEFT:
            warped = _bilinear(image, xs - shift, ys)
        elif challenge is Challenge.TURN_RIGHT:
            warped = _bilinear(image, xs + shift, ys)
        else:
            warped = _bilinear(image, xs, ys + shift)
        frames.append(add_noise(warped, sigma=2.0, rng=rng))
    return frames


def static_replay(image: np.ndarray, *, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [add_noise(image, sigma=3.0, rng=rng) for _ in range(FRAMES)]


def _homography_for(challenge: Challenge, amount: float, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    centre = np.array([[1.0, 0.0, -w / 2], [0.0, 1.0, -h / 2], [0.0, 0.0, 1.0]])
    back = np.linalg.inv(centre)
    if challenge is Challenge.NOD:
        motion = np.array(
            [[1.0, 0.0, 0.0], [0.0, 1.0 - 0.3 * amount, 0.0], [0.0, 0.0012 * amount, 1.0]]
        )
    else:
        sign = 1.0 if challenge is Challenge.TURN_LEFT else -1.0
        motion = np.array(
            [[1.0, sign * 0.35 * amount, 0.0], [0.0, 1.0, 0.0], [sign * 0.0012 * amount, 0.0, 1.0]]
        )
    return np.asarray(back @ motion @ centre)


def planar_replay(image: np.ndarray, *, challenge: Challenge, seed: int = 0) -> list[np.ndarray]:
    """A flat photo tilted and sheared across the burst to imitate the requested motion."""
    rng = np.random.default_rng(seed)
    frames = []
    for step in range(FRAMES):
        homography = _homography_for(challenge, step / (FRAMES - 1), image.shape[:2])
        frames.append(add_noise(warp_perspective(image, homography), sigma=2.0, rng=rng))
    return frames
