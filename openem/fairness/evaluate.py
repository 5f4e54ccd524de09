"""`openem eval faces DIR`: accuracy, error rates at strict FMRs, per-group figures, peer."""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import dlib
import numpy as np

from openem.biometrics.embedding import ENROLMENT_JITTERS, distance
from openem.biometrics.model import MODEL_VERSION
from openem.biometrics.pool import FacePool
from openem.biometrics.templates import DEFAULT_FUSION
from openem.biometrics.threshold import DEFAULT_THRESHOLD, calibrate_threshold
from openem.fairness import metrics
from openem.fairness.acquire import (
    Acquired,
    acquire_files,
    enrol_files,
    peer_encode_files,
    run_chunked,
)
from openem.fairness.dataset import FaceDataset, Pair, load_dataset
from openem.fairness.prompt import (
    ImpostorOutcomes,
    accepted_prompts,
    build_prompts,
    enrolment_images,
    genuine_by_person,
    impostor_attempt_scores,
    impostor_prompt_scores,
    prompt_rates,
    score_matrix,
)

MISSING_DISTANCE = 10.0
PROMPT_IMAGES = 6
BOUNDED_PROMPT_IMAGES = 3
FUSIONS = ("centroid", "min", "mean")
# The figures. Pair accuracy: closer to the model's published 99.38% than to the
# 98.4% a plain pipeline gets on these folds, and never below the peer library.
TARGETS = {
    "pair_accuracy": (0.989, ">="),
    "pair_accuracy_over_peer": (0.0, ">="),
    "prompt_gar": (0.97, ">="),
    "prompt_far": (1e-3, "<="),
}


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "dlib": dlib.__version__,
        "model_version": MODEL_VERSION,
    }


def _sample_pairs(pairs: list[Pair], limit: int | None, seed: int) -> list[Pair]:
    if limit is None or limit >= len(pairs):
        return pairs
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(pairs), limit, replace=False)
    return [pairs[i] for i in sorted(chosen)]


def _euclidean(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def _pair_scores(
    pairs: list[Pair],
    vectors: dict[str, np.ndarray | None],
    measure: Callable[[np.ndarray, np.ndarray], float] = distance,
) -> np.ndarray:
    """Pair distances as OpenEM compares descriptors (unit length), or by ``measure``."""
    out = []
    for p in pairs:
        a, b = vectors.get(p.image_a), vectors.get(p.image_b)
        out.append(MISSING_DISTANCE if a is None or b is None else measure(a, b))
    return np.array(out)


def _fnmr_statistic(fmr: float) -> Callable[[np.ndarray, np.ndarray], float]:
    def statistic(genuine: np.ndarray, impostor: np.ndarray) -> float:
        return metrics.fnmr_at_fmr(genuine, impostor, fmr).fnmr

    return statistic


def verification_figures(
    distances: np.ndarray, same: np.ndarray, folds: np.ndarray
) -> dict[str, Any]:
    genuine, impostor = distances[same], distances[~same]
    accuracy, accuracy_std = metrics.lfw_accuracy(distances, same, folds)
    figures: dict[str, Any] = {
        "pair_accuracy": accuracy,
        "pair_accuracy_std": accuracy_std,
        "roc_auc": metrics.roc_auc(genuine, impostor),
        "roc_auc_ci95": metrics.bootstrap_ci(metrics.roc_auc, genuine, impostor),
        "eer": metrics.equal_error_rate(genuine, impostor),
        "eer_ci95": metrics.bootstrap_ci(metrics.equal_error_rate, genuine, impostor),
        "genuine_pairs": int(genuine.size),
        "impostor_pairs": int(impostor.size),
    }
    for fmr in metrics.REPORTED_FMRS:
        point = metrics.fnmr_at_fmr(genuine, impostor, fmr)
        key = f"fnmr_at_fmr_{fmr:.0e}"
        figures[key] = point.fnmr if point.supported else None
        figures[f"{key}_supported"] = point.supported
        if point.supported:
            figures[f"{key}_ci95"] = metrics.bootstrap_ci(_fnmr_statistic(fmr), genuine, impostor)
    return figures


def _genuine_people(dataset: FaceDataset, pairs: list[Pair]) -> set[str]:
    return {dataset.identity[p.image_a] for p in pairs if p.same}


def _fold_of_people(dataset: FaceDataset, pairs: list[Pair]) -> dict[str, int]:
    fold: dict[str, int] = {}
    for p in pairs:
        for image in (p.image_a, p.image_b):
            fold.setdefault(dataset.identity[image], p.fold)
    return fold


def _prompt_level(
    dataset: FaceDataset,
    people_fold: dict[str, int],
    acquired: dict[str, Acquired],
    calibrate_fmr: float | None,
) -> tuple[dict[str, Any], dict[str, bool], list[ImpostorOutcomes]]:
    """Cross-calibrated: threshold from one half of the folds, rates measured on the other.

    Also returns, for the default fusion, each genuine prompt's outcome by person and the
    impostor prompts' outcomes of each half (for per-group figures).
    """
    folds = sorted(set(people_fold.values()))
    halves = [folds[: len(folds) // 2], folds[len(folds) // 2 :]] if len(folds) > 1 else [folds]
    images_of = dataset.images_of()
    sets = [
        build_prompts([p for p, f in sorted(people_fold.items()) if f in half], images_of, acquired)
        for half in halves
    ]
    result: dict[str, Any] = {
        "calibration": "cross-half" if len(sets) > 1 else "same-set",
        "calibrated_on": "impostor prompts (best of the impostor's attempts): per-prompt FMR",
    }
    accepted: dict[str, bool] = {}
    impostor_outcomes: list[ImpostorOutcomes] = []
    for fusion in FUSIONS:
        scores = [score_matrix(s, fusion) for s in sets]
        totals = dict.fromkeys(
            ("gar", "far", "genuine_prompts", "impostor_prompts", "attempt_false_matches",
             "impostor_attempts"),
            0.0,
        )
        thresholds = []
        for k, prompts in enumerate(sets):
            calib = sets[1 - k] if len(sets) > 1 else prompts
            calib_scores = scores[1 - k] if len(sets) > 1 else scores[k]
            if calibrate_fmr is None:
                threshold = DEFAULT_THRESHOLD
            else:
                impostors = impostor_prompt_scores(calib, calib_scores)
                threshold = calibrate_threshold(
                    impostor_distances=impostors, target_fmr=calibrate_fmr
                ).threshold
            thresholds.append(threshold)
            rates = prompt_rates(prompts, scores[k], threshold)
            for key in ("gar", "far"):
                count = "genuine_prompts" if key == "gar" else "impostor_prompts"
                totals[key] += rates[key] * rates[count]
            totals["genuine_prompts"] += rates["genuine_prompts"]
            totals["impostor_prompts"] += rates["impostor_prompts"]
            attempts = impostor_attempt_scores(prompts, scores[k])
            totals["attempt_false_matches"] += float(np.sum(attempts <= threshold))
            totals["impostor_attempts"] += float(attempts.size)
            if fusion == DEFAULT_FUSION:
                accepted.update(genuine_by_person(prompts, scores[k], threshold))
                outcomes, valid = accepted_prompts(prompts, scores[k], threshold)
                impostor_outcomes.append(ImpostorOutcomes(prompts.people, outcomes, valid))
        result[fusion] = {
            "gar": totals["gar"] / max(totals["genuine_prompts"], 1.0),
            "far": totals["far"] / max(totals["impostor_prompts"], 1.0),
            "genuine_prompts": int(totals["genuine_prompts"]),
            "impostor_prompts": int(totals["impostor_prompts"]),
            "attempt_fmr": totals["attempt_false_matches"] / max(totals["impostor_attempts"], 1.0),
            "thresholds": thresholds,
        }
    result["failed_to_enrol"] = sum(s.failed_to_enrol for s in sets)
    if calibrate_fmr is not None:
        everyone = build_prompts(sorted(people_fold), images_of, acquired)
        calibration = calibrate_threshold(
            impostor_distances=impostor_prompt_scores(
                everyone, score_matrix(everyone, DEFAULT_FUSION)
            ),
            target_fmr=calibrate_fmr,
        )
        result["threshold_all_folds"] = calibration.as_dict()
    return result, accepted, impostor_outcomes


def evaluate_faces(
    directory: Path,
    *,
    limit_pairs: int | None = None,
    seed: int = 0,
    calibrate_fmr: float | None = 1e-3,
    plots_dir: Path | None = None,
    workers: int = 2,
    cache_dir: Path | None = None,
    enrol_jitters: int = ENROLMENT_JITTERS,
) -> dict[str, Any]:
    """Evaluate on a directory laid out like ../shared/faces; returns the bench JSON shape.

    Enrolment photos are described as enrolment does, with ``enrol_jitters`` (the
    service's ``ENROLMENT_JITTERS`` unless a test asks for fewer, to save time).
    """
    from openem.fairness.groups import group_figures
    from openem.fairness.plots import write_det_plots

    dataset = load_dataset(directory)
    pairs = _sample_pairs(dataset.pairs, limit_pairs, seed)
    people_fold = _fold_of_people(dataset, pairs)
    pair_images = sorted({i for p in pairs for i in (p.image_a, p.image_b)})
    images_of = dataset.images_of()
    per_person = PROMPT_IMAGES if limit_pairs is None else BOUNDED_PROMPT_IMAGES
    prompt_people = people_fold if limit_pairs is None else _genuine_people(dataset, pairs)
    prompt_images = sorted(
        {i for person in prompt_people for i in images_of.get(person, [])[:per_person]}
    )
    images = sorted(set(pair_images) | set(prompt_images))
    with FacePool(workers=workers) as pool:
        acquire = functools.partial(acquire_files, cache_dir=cache_dir)
        peer_encode = functools.partial(peer_encode_files, cache_dir=cache_dir)
        acquired_list = run_chunked(pool, acquire, [dataset.path(i) for i in images])
        acquired: dict[str, Acquired] = dict(zip(images, acquired_list, strict=True))
        enrolment = enrolment_images(sorted(people_fold), images_of, acquired)
        enrol = functools.partial(enrol_files, cache_dir=cache_dir, jitters=enrol_jitters)
        enrolled = run_chunked(pool, enrol, [dataset.path(i) for i in enrolment])
        peer_list = run_chunked(pool, peer_encode, [dataset.path(i) for i in pair_images])
    for image, descriptor in zip(enrolment, enrolled, strict=True):
        acquired[image] = replace(acquired[image], enrolled=descriptor)
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    # Both sides mirror-averaged, as the service compares a check-in with a template.
    distances = _pair_scores(pairs, {i: acquired[i].mirrored for i in pair_images})
    figures = verification_figures(distances, same, folds)
    plain = _pair_scores(pairs, {i: acquired[i].plain for i in pair_images})
    figures["plain_descriptors"] = {
        "pair_accuracy": metrics.lfw_accuracy(plain, same, folds)[0],
        "roc_auc": metrics.roc_auc(plain[same], plain[~same]),
        "eer": metrics.equal_error_rate(plain[same], plain[~same]),
    }
    figures["failure_to_acquire"] = metrics.failure_to_acquire(
        np.array([acquired[i].found for i in pair_images])
    )
    figures["enrolment_jitters"] = enrol_jitters
    figures["quality_pass_rate"] = float(np.mean([acquired[i].quality_ok for i in images]))
    figures["checkin_gate_pass_rate"] = float(
        np.mean([acquired[i].verification_ok for i in images])
    )
    prompt, accepted, impostors = _prompt_level(dataset, people_fold, acquired, calibrate_fmr)
    figures["prompt_level"] = prompt
    figures["prompt_gar"] = prompt[DEFAULT_FUSION]["gar"]
    figures["prompt_far"] = prompt[DEFAULT_FUSION]["far"]
    threshold = (
        prompt["threshold_all_folds"]["threshold"]
        if "threshold_all_folds" in prompt
        else DEFAULT_THRESHOLD
    )
    figures["threshold"] = threshold
    peer_vectors = dict(zip(pair_images, peer_list, strict=True))
    peer_distances = _pair_scores(pairs, peer_vectors, _euclidean)  # its face_distance
    peer = verification_figures(peer_distances, same, folds)
    peer["library"] = "face_recognition 1.3.0 (defaults: HOG upsample 1, 5-point, 1 jitter)"
    peer["failure_to_acquire"] = metrics.failure_to_acquire(
        np.array([v is not None for v in peer_list])
    )
    figures["pair_accuracy_over_peer"] = figures["pair_accuracy"] - peer["pair_accuracy"]
    groups = group_figures(
        dataset=dataset,
        pairs=pairs,
        distances=distances,
        threshold=threshold,
        acquired=acquired,
        accepted=accepted,
        impostors=impostors,
    )
    if plots_dir is not None:
        figures["plots"] = write_det_plots(
            plots_dir,
            pairs=pairs,
            distances=distances,
            peer_distances=peer_distances,
            dataset=dataset,
        )
    targets = {
        name: {
            "target": target,
            "op": op,
            "met": bool(figures[name] >= target if op == ">=" else figures[name] <= target),
        }
        for name, (target, op) in TARGETS.items()
    }
    return {
        "name": "faces",
        "machine": machine(),
        "figures": figures,
        "targets": targets,
        "groups": groups,
        "peer": peer,
    }
