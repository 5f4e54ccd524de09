"""Verification metrics on distance scores (lower = more similar; accept when <= threshold)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from openem.biometrics.threshold import fmr_supported, threshold_at_fmr

REPORTED_FMRS = (1e-2, 1e-3, 1e-4)


def roc_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Probability that a random genuine distance is below a random impostor one (ties 1/2)."""
    g, i = np.asarray(genuine, float), np.sort(np.asarray(impostor, float))
    above = len(i) - np.searchsorted(i, g, side="right")
    ties = np.searchsorted(i, g, side="right") - np.searchsorted(i, g, side="left")
    return float((above.sum() + 0.5 * ties.sum()) / (len(g) * len(i)))


def error_rates(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> tuple[float, float]:
    """(FMR, FNMR) at a threshold."""
    return float(np.mean(np.asarray(impostor) <= threshold)), float(
        np.mean(np.asarray(genuine) > threshold)
    )


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Mean of FMR and FNMR at the candidate threshold where they are closest."""
    candidates = np.unique(np.concatenate([genuine, impostor]))
    fmr = np.searchsorted(np.sort(impostor), candidates, side="right") / len(impostor)
    fnmr = 1.0 - np.searchsorted(np.sort(genuine), candidates, side="right") / len(genuine)
    best = int(np.argmin(np.abs(fmr - fnmr)))
    return float((fmr[best] + fnmr[best]) / 2.0)


@dataclass(frozen=True)
class OperatingPoint:
    fmr: float
    threshold: float
    fnmr: float
    supported: bool


def fnmr_at_fmr(genuine: np.ndarray, impostor: np.ndarray, fmr: float) -> OperatingPoint:
    """FNMR at the threshold allowing at most ``fmr``; unsupported when impostors < 3/fmr."""
    threshold = threshold_at_fmr(impostor, fmr)
    return OperatingPoint(
        fmr=fmr,
        threshold=threshold,
        fnmr=float(np.mean(np.asarray(genuine) > threshold)),
        supported=fmr_supported(impostor_count=len(impostor), fmr=fmr),
    )


def bootstrap_ci(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    genuine: np.ndarray,
    impostor: np.ndarray,
    *,
    resamples: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval, genuine and impostor scores resampled separately."""
    rng = np.random.default_rng(seed)
    values = [
        statistic(rng.choice(genuine, len(genuine)), rng.choice(impostor, len(impostor)))
        for _ in range(resamples)
    ]
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def group_ratio(rates: dict[str, float]) -> float | None:
    """Worst / best rate across groups (None when a best rate of zero makes it undefined)."""
    values = [v for v in rates.values() if v == v]
    if len(values) < 2 or min(values) == 0.0:
        return None
    return float(max(values) / min(values))


def failure_to_acquire(found: np.ndarray) -> float:
    return float(1.0 - np.mean(np.asarray(found, dtype=bool))) if len(found) else 0.0


def lfw_accuracy(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> tuple[float, float]:
    """10-fold-style accuracy: threshold chosen on the other folds, applied to each fold."""
    accuracies = []
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        if not train.any():
            train = test
        ordered = np.unique(distances[train])
        candidates = (ordered[:-1] + ordered[1:]) / 2.0 if ordered.size > 1 else ordered
        correct = [np.mean((distances[train] <= t) == same[train]) for t in candidates]
        threshold = candidates[int(np.argmax(correct))]
        accuracies.append(np.mean((distances[test] <= threshold) == same[test]))
    return float(np.mean(accuracies)), float(np.std(accuracies))


def det_curve(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FMR, FNMR) over all thresholds, for DET plots."""
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    fmr = np.searchsorted(np.sort(impostor), thresholds, side="right") / len(impostor)
    fnmr = 1.0 - np.searchsorted(np.sort(genuine), thresholds, side="right") / len(genuine)
    return fmr, fnmr
