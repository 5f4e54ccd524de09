"""Distance threshold for a target false-match rate, from impostor distances.

Accept when distance <= threshold. With n impostor comparisons, a false-match rate
below 3/n is not supported by the data (rule of three, 95% confidence).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DEFAULT_TARGET_FMR = 1e-3
DEFAULT_THRESHOLD = 0.375


@dataclass(frozen=True)
class ThresholdCalibration:
    threshold: float
    target_fmr: float
    achieved_fmr: float
    impostor_count: int
    supported: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fmr_supported(*, impostor_count: int, fmr: float) -> bool:
    return impostor_count >= math.ceil(3.0 / fmr)


def threshold_at_fmr(impostor_distances: np.ndarray, fmr: float) -> float:
    """The largest threshold whose false-match rate on these distances is at most fmr."""
    ordered = np.sort(np.asarray(impostor_distances, dtype=np.float64))
    if ordered.size == 0:
        raise ValueError("no impostor distances")
    allowed = math.floor(fmr * ordered.size + 1e-9)
    if allowed >= ordered.size:
        return float(ordered[-1])
    return float(np.nextafter(ordered[allowed], -np.inf))


def calibrate_threshold(
    *, impostor_distances: np.ndarray, target_fmr: float = DEFAULT_TARGET_FMR
) -> ThresholdCalibration:
    distances = np.asarray(impostor_distances, dtype=np.float64)
    threshold = threshold_at_fmr(distances, target_fmr)
    return ThresholdCalibration(
        threshold=threshold,
        target_fmr=target_fmr,
        achieved_fmr=float(np.mean(distances <= threshold)),
        impostor_count=int(distances.size),
        supported=fmr_supported(impostor_count=int(distances.size), fmr=target_fmr),
    )
