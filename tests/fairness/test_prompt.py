from __future__ import annotations

import numpy as np

from openem.fairness.acquire import Acquired
from openem.fairness.prompt import (
    accepted_prompts,
    build_prompts,
    impostor_attempt_scores,
    impostor_prompt_scores,
    prompt_rates,
    score_matrix,
)


def _acquired(vector: np.ndarray, *, ok: bool = True) -> Acquired:
    return Acquired(found=True, quality_ok=ok, reasons=(), plain=vector, mirrored=vector)


def _people(seed: int = 0, count: int = 12, photos: int = 6) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    images_of: dict[str, list[str]] = {}
    acquired: dict[str, Acquired] = {}
    for p in range(count):
        centre = rng.normal(size=128)
        names = [f"p{p}/{k}.jpg" for k in range(photos)]
        images_of[f"p{p}"] = names
        for k, name in enumerate(names):
            acquired[name] = _acquired(centre + rng.normal(scale=0.3, size=128), ok=k != 4)
    return images_of, acquired


def test_one_prompt_score_per_template_and_other_person() -> None:
    images_of, acquired = _people()
    prompts = build_prompts(sorted(images_of), images_of, acquired)
    scores = score_matrix(prompts, "centroid")
    per_prompt = impostor_prompt_scores(prompts, scores)
    assert per_prompt.size == 12 * 11


def test_a_prompt_score_is_the_best_usable_attempt_of_the_impostor() -> None:
    images_of, acquired = _people()
    prompts = build_prompts(sorted(images_of), images_of, acquired)
    scores = score_matrix(prompts, "centroid")
    per_prompt = impostor_prompt_scores(prompts, scores)
    usable = np.where(prompts.probe_ok[None, :], scores, np.inf)
    expected = [
        usable[t, prompts.probe_owner == o].min() for t in range(12) for o in range(12) if t != o
    ]
    assert np.allclose(np.sort(per_prompt), np.sort(expected))
    assert per_prompt.min() >= impostor_attempt_scores(prompts, scores).min()


def test_thresholding_prompt_scores_gives_the_per_prompt_false_acceptance() -> None:
    images_of, acquired = _people(seed=3)
    prompts = build_prompts(sorted(images_of), images_of, acquired)
    scores = score_matrix(prompts, "centroid")
    per_prompt = impostor_prompt_scores(prompts, scores)
    for threshold in np.quantile(per_prompt, [0.05, 0.3, 0.7]):
        far = prompt_rates(prompts, scores, float(threshold))["far"]
        assert far == np.mean(per_prompt <= threshold)


def test_enrolment_photos_pass_the_full_gate_and_attempts_the_check_in_gate() -> None:
    rng = np.random.default_rng(5)
    centre = rng.normal(size=128)
    photos = [centre + rng.normal(scale=0.05, size=128) for _ in range(3)]
    images_of = {"p0": ["p0/0.jpg", "p0/1.jpg", "p0/2.jpg"]}
    acquired = {
        "p0/0.jpg": Acquired(True, False, ("too_dark",), photos[0], photos[0], True),
        "p0/1.jpg": Acquired(True, True, (), photos[1], photos[1], True),
        "p0/2.jpg": Acquired(True, True, (), photos[2], photos[2], True),
    }
    prompts = build_prompts(["p0"], images_of, acquired)
    assert prompts.enrol_mask.tolist() == [[True, True, False]]  # the dark photo is not enrolled
    assert prompts.probe_ok.tolist() == [True]  # but it is a usable attempt
    refused = dict(acquired, **{"p0/0.jpg": Acquired(True, False, ("no_face",), None, None, False)})
    assert build_prompts(["p0"], images_of, refused).probe_ok.tolist() == [False]



def test_accepted_impostor_prompts_are_the_false_acceptances_per_prompt() -> None:
    images_of, acquired = _people(seed=6)
    prompts = build_prompts(sorted(images_of), images_of, acquired)
    scores = score_matrix(prompts, "mean")
    threshold = float(np.quantile(impostor_prompt_scores(prompts, scores), 0.2))
    accepted, impostor = accepted_prompts(prompts, scores, threshold)
    assert impostor.sum() == 12 * 11 and not impostor.diagonal().any()
    assert accepted[impostor].mean() == prompt_rates(prompts, scores, threshold)["far"]


def test_prompt_scores_compare_descriptors_by_direction() -> None:
    images_of, acquired = _people(seed=4)
    scaled = {
        name: Acquired(True, a.quality_ok, a.reasons, 2.0 * a.plain, 0.5 * a.mirrored)
        for name, a in acquired.items()
        if a.plain is not None and a.mirrored is not None
    }
    plain = build_prompts(sorted(images_of), images_of, acquired)
    rescaled = build_prompts(sorted(images_of), images_of, scaled)
    for fusion in ("centroid", "min", "mean"):
        np.testing.assert_allclose(score_matrix(plain, fusion), score_matrix(rescaled, fusion))
