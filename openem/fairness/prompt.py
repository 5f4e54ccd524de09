"""Prompt-level protocol: enrol with up to 3 photos, verify with others, up to 3 attempts.

Genuine prompt: a person's template against their own next (up to) 3 photos, accepted
when any attempt passes the check-in gate and matches. Impostor prompt: the same template
against 3 photos of every other person in the set, the impostor getting 3 attempts too.
Enrolment photos must pass the enrolment gate and are described as enrolment describes
them (``Acquired.enrolled``, jittered); attempts must pass the check-in gate and are
described as a check-in's compared frame (``Acquired.mirrored``), as in service.
Descriptors are compared at unit length, as ``template_distance`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from openem.biometrics.embedding import unit
from openem.fairness.acquire import Acquired

ENROL = 3
ATTEMPTS = 3


@dataclass(frozen=True)
class PromptSet:
    people: list[str]
    templates: np.ndarray
    enrol_sets: np.ndarray
    enrol_mask: np.ndarray
    probes: np.ndarray
    probe_ok: np.ndarray
    probe_owner: np.ndarray
    failed_to_enrol: int


@dataclass(frozen=True)
class ImpostorOutcomes:
    """Impostor prompts of one prompt set: ``accepted[t, o]`` when person ``o``'s photos
    were accepted as ``people[t]``; ``valid`` marks the cells that are impostor prompts."""

    people: list[str]
    accepted: np.ndarray
    valid: np.ndarray


def _enrolment(images: list[str], acquired: dict[str, Acquired]) -> list[str]:
    """A person's enrolment photos: the first (up to 3) passing the enrolment gate, always
    leaving at least one photo to verify with."""
    good = [i for i in images if acquired[i].quality_ok and acquired[i].mirrored is not None]
    return good[: min(ENROL, len(images) - 1)]


def _usable_images(
    person: str, images_of: dict[str, list[str]], acquired: dict[str, Acquired]
) -> list[str]:
    return [i for i in images_of.get(person, []) if i in acquired]


def enrolment_images(
    people: Sequence[str], images_of: dict[str, list[str]], acquired: dict[str, Acquired]
) -> list[str]:
    """The photos ``build_prompts`` enrols with, to describe them as enrolment does."""
    chosen: list[str] = []
    for person in people:
        images = _usable_images(person, images_of, acquired)
        if len(images) >= 2:
            chosen += _enrolment(images, acquired)
    return chosen


def _enrolment_descriptor(item: Acquired) -> np.ndarray:
    descriptor = item.enrolled if item.enrolled is not None else item.mirrored
    assert descriptor is not None
    return descriptor


def build_prompts(
    people: Sequence[str], images_of: dict[str, list[str]], acquired: dict[str, Acquired]
) -> PromptSet:
    kept: list[str] = []
    templates: list[np.ndarray] = []
    enrol_sets: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    probes: list[np.ndarray] = []
    probe_ok: list[bool] = []
    owner: list[int] = []
    failed = 0
    for person in people:
        images = _usable_images(person, images_of, acquired)
        if len(images) < 2:
            continue
        enrol = _enrolment(images, acquired)
        if not enrol:
            failed += 1
            continue
        rest = [i for i in images if i not in enrol][:ATTEMPTS]
        descriptors = np.stack([_enrolment_descriptor(acquired[i]) for i in enrol])
        padded = np.zeros((ENROL, 128))
        padded[: len(enrol)] = descriptors
        mask = np.arange(ENROL) < len(enrol)
        index = len(kept)
        kept.append(person)
        templates.append(descriptors.mean(axis=0))
        enrol_sets.append(padded)
        masks.append(mask)
        for image in rest:
            item = acquired[image]
            # a check-in compares its frame mirror-averaged (verify.describe_for_decision)
            probes.append(item.mirrored if item.mirrored is not None else np.full(128, np.inf))
            probe_ok.append(item.verification_ok and item.mirrored is not None)
            owner.append(index)
    return PromptSet(
        people=kept,
        templates=np.array(templates).reshape(-1, 128),
        enrol_sets=np.array(enrol_sets).reshape(-1, ENROL, 128),
        enrol_mask=np.array(masks).reshape(-1, ENROL),
        probes=np.array(probes).reshape(-1, 128),
        probe_ok=np.array(probe_ok, dtype=bool),
        probe_owner=np.array(owner, dtype=int),
        failed_to_enrol=failed,
    )


def score_matrix(prompts: PromptSet, fusion: str) -> np.ndarray:
    """Distance of every template to every probe photo (people x probes), per fusion rule.

    The same distances as ``template_distance`` with one-frame bursts. Probes without a
    descriptor get a finite placeholder; they never pass the gate (``probe_ok``).
    """
    probes = unit(np.where(np.isfinite(prompts.probes), prompts.probes, 1.0))
    enrolled = unit(prompts.enrol_sets) * prompts.enrol_mask[:, :, None]
    if fusion == "centroid":
        centroids = unit(enrolled.sum(axis=1) / prompts.enrol_mask.sum(axis=1)[:, None])
        return np.asarray(np.linalg.norm(centroids[:, None, :] - probes[None, :, :], axis=-1))
    per_enrol = np.linalg.norm(enrolled[:, :, None, :] - probes[None, None, :, :], axis=-1)
    if fusion == "min":
        return np.asarray(np.where(prompts.enrol_mask[:, :, None], per_enrol, np.inf).min(axis=1))
    summed = np.where(prompts.enrol_mask[:, :, None], per_enrol, 0.0).sum(axis=1)
    return np.asarray(summed / prompts.enrol_mask.sum(axis=1)[:, None])


def impostor_attempt_scores(prompts: PromptSet, scores: np.ndarray) -> np.ndarray:
    """Single-attempt impostor distances (template vs another person's quality-passing photo)."""
    other = prompts.probe_owner[None, :] != np.arange(len(prompts.people))[:, None]
    return np.asarray(scores[other & prompts.probe_ok[None, :]])


def impostor_prompt_scores(prompts: PromptSet, scores: np.ndarray) -> np.ndarray:
    """One score per impostor prompt: the best (lowest) distance over the impostor's attempts.

    A prompt (template, other person) is falsely accepted at a threshold exactly when this
    score is at or below it, so calibrating on these scores sets the per-prompt FMR, the
    impostor having had all their attempts. Attempts failing quality count as infinity.
    """
    n = len(prompts.people)
    usable = np.where(prompts.probe_ok[None, :], scores, np.inf)
    best = np.full((n, n), np.inf)
    for owner in np.unique(prompts.probe_owner):
        best[:, owner] = usable[:, prompts.probe_owner == owner].min(axis=1)
    has_probe = np.zeros(n, dtype=bool)
    has_probe[prompts.probe_owner] = True
    return np.asarray(best[has_probe[None, :] & ~np.eye(n, dtype=bool)])


def accepted_prompts(
    prompts: PromptSet, scores: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Which prompts were accepted (template x person whose photos were tried), and which of
    those cells are impostor prompts (another person, with at least one photo tried)."""
    accepted = (scores <= threshold) & prompts.probe_ok[None, :]
    n = len(prompts.people)
    per_owner = np.zeros((n, n), dtype=bool)
    for column, owner in enumerate(prompts.probe_owner):
        per_owner[:, owner] |= accepted[:, column]
    has_probe = np.zeros(n, dtype=bool)
    has_probe[prompts.probe_owner] = True
    return per_owner, has_probe[None, :] & ~np.eye(n, dtype=bool)


def prompt_rates(prompts: PromptSet, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Genuine acceptance and false acceptance per prompt, 3 attempts each."""
    per_owner, impostor_mask = accepted_prompts(prompts, scores, threshold)
    has_probe = np.zeros(len(prompts.people), dtype=bool)
    has_probe[prompts.probe_owner] = True
    genuine = np.diag(per_owner)[has_probe]
    return {
        "gar": float(genuine.mean()) if genuine.size else float("nan"),
        "far": float(per_owner[impostor_mask].mean()) if impostor_mask.any() else float("nan"),
        "genuine_prompts": float(genuine.size),
        "impostor_prompts": float(impostor_mask.sum()),
    }


def genuine_by_person(prompts: PromptSet, scores: np.ndarray, threshold: float) -> dict[str, bool]:
    accepted = (scores <= threshold) & prompts.probe_ok[None, :]
    result: dict[str, bool] = {}
    for column, owner in enumerate(prompts.probe_owner):
        person = prompts.people[owner]
        result[person] = result.get(person, False) or bool(accepted[owner, column])
    return result
