"""Per-attribute-group figures: FNMR, FMR, failure to acquire, prompt-level acceptance.

Same-group impostor prompts (a template of the group against every other person of the
group, three attempts each) are far more numerous than same-group impostor pairs, so the
per-group false-acceptance rate is measured on them (``prompt_far``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from openem.fairness import metrics
from openem.fairness.acquire import Acquired
from openem.fairness.dataset import FaceDataset, Pair
from openem.fairness.prompt import ImpostorOutcomes


def _value(dataset: FaceDataset, image: str, attribute: str) -> str:
    return dataset.attributes.get(image, {}).get(attribute, "")


def group_figures(
    *,
    dataset: FaceDataset,
    pairs: list[Pair],
    distances: np.ndarray,
    threshold: float,
    acquired: dict[str, Acquired],
    accepted: dict[str, bool],
    impostors: Sequence[ImpostorOutcomes] = (),
) -> dict[str, Any]:
    """For every attribute column: figures per value, and worst/best FNMR ratios."""
    person_images = dataset.images_of()
    out: dict[str, Any] = {}
    for attribute in dataset.attribute_names:
        per_group: dict[str, dict[str, Any]] = {}
        values = sorted({_value(dataset, i, attribute) for i in dataset.identity} - {""})
        for value in values:
            both = np.array(
                [
                    _value(dataset, p.image_a, attribute) == value
                    and _value(dataset, p.image_b, attribute) == value
                    for p in pairs
                ]
            )
            same = np.array([p.same for p in pairs])
            genuine, impostor = distances[both & same], distances[both & ~same]
            images = [i for i in acquired if _value(dataset, i, attribute) == value]
            people = {dataset.identity[i] for i in images}
            prompts = [accepted[p] for p in people if p in accepted and person_images.get(p)]
            false_accepts, impostor_prompts = _same_group_impostors(impostors, people)
            per_group[value] = {
                "genuine_pairs": int(genuine.size),
                "impostor_pairs": int(impostor.size),
                "fnmr": float(np.mean(genuine > threshold)) if genuine.size else None,
                "fmr": float(np.mean(impostor <= threshold)) if impostor.size else None,
                "fnmr_ci95": metrics.bootstrap_ci(
                    lambda g, i: float(np.mean(g > threshold)), genuine, np.zeros(1)
                )
                if genuine.size
                else None,
                "failure_to_acquire": metrics.failure_to_acquire(
                    np.array([acquired[i].found for i in images])
                ),
                "prompt_gar": float(np.mean(prompts)) if prompts else None,
                "prompt_genuine": len(prompts),
                "prompt_far": false_accepts / impostor_prompts if impostor_prompts else None,
                "prompt_impostor": impostor_prompts,
            }
        fnmr = {k: v["fnmr"] for k, v in per_group.items() if v["fnmr"] is not None}
        prompt_fnmr = {
            k: 1.0 - v["prompt_gar"] for k, v in per_group.items() if v["prompt_gar"] is not None
        }
        prompt_far = {
            k: v["prompt_far"] for k, v in per_group.items() if v["prompt_far"] is not None
        }
        out[attribute] = {
            "threshold": threshold,
            "values": per_group,
            "fnmr_worst_best_ratio": metrics.group_ratio(fnmr),
            "prompt_fnmr_worst_best_ratio": metrics.group_ratio(prompt_fnmr),
            "prompt_far_worst_best_ratio": metrics.group_ratio(prompt_far),
        }
    return out


def _same_group_impostors(
    impostors: Sequence[ImpostorOutcomes], people: set[str]
) -> tuple[int, int]:
    """False acceptances and impostor prompts where template and impostor are both in group."""
    accepted = total = 0
    for outcomes in impostors:
        member = np.array([p in people for p in outcomes.people], dtype=bool)
        cells = outcomes.valid & member[:, None] & member[None, :]
        accepted += int(outcomes.accepted[cells].sum())
        total += int(cells.sum())
    return accepted, total
