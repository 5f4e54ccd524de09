"""`openem bench checkins`: check-ins per second, latency, pipeline overhead, replay APCER.

Bursts are simulated from LFW stills (see :mod:`openem.biometrics.synthetic`): a genuine
check-in is one photo turned or nodded by a depth-map warp, 3 frames; attacks are a
static replay (one photo, noise) and a planar replay (one photo tilted and sheared to
fake the requested motion). The template is enrolled from another photo of the person.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from openem.biometrics import embedding
from openem.biometrics.enrolment import enrol_subject
from openem.biometrics.frames import analyse_frame
from openem.biometrics.liveness import Challenge
from openem.biometrics.model import default_models
from openem.biometrics.pool import FacePool
from openem.biometrics.synthetic import planar_replay, simulated_turn, static_replay
from openem.biometrics.templates import FaceTemplate
from openem.biometrics.verify import CheckinDecision
from openem.fairness.dataset import load_dataset
from openem.fairness.evaluate import machine

TARGETS = {
    "checkins_per_second": (8.0, ">="),
    "pipeline_overhead": (1.25, "<="),
    "apcer_static": (0.05, "<="),
    "apcer_planar_warped": (0.05, "<="),
}


@dataclass(frozen=True)
class Case:
    template: FaceTemplate
    challenge: Challenge
    genuine: list[np.ndarray]
    static: list[np.ndarray]
    planar: list[np.ndarray]


def build_cases(faces_dir: Path, *, count: int, seed: int = 0) -> list[Case]:
    """People with two photos that pass the quality gate: enrol with one, burst from other."""
    dataset = load_dataset(faces_dir)
    rng = random.Random(seed)
    people = [(p, imgs) for p, imgs in sorted(dataset.images_of().items()) if len(imgs) >= 2]
    rng.shuffle(people)
    cases: list[Case] = []
    for index, (_, images) in enumerate(people):
        if len(cases) >= count:
            break
        enrolment = enrol_subject(images=[embedding.load_rgb(dataset.path(images[0]))])
        probe = embedding.prepare_image(embedding.load_rgb(dataset.path(images[1])))
        analysis = analyse_frame(probe, with_descriptor=False)
        if enrolment.template is None or not analysis.quality.ok or analysis.landmarks is None:
            continue
        challenge = list(Challenge)[index % len(Challenge)]
        cases.append(
            Case(
                template=enrolment.template,
                challenge=challenge,
                genuine=simulated_turn(
                    probe, landmarks=analysis.landmarks, challenge=challenge, seed=index
                ),
                static=static_replay(probe, seed=index),
                planar=planar_replay(probe, challenge=challenge, seed=index),
            )
        )
    return cases


def bare_dlib_seconds(frames: list[np.ndarray]) -> float:
    """The same frames through plain dlib calls: detect, 5 landmarks, descriptor."""
    models = default_models()
    start = time.perf_counter()
    for frame in frames:
        rects = models.detector(frame, 0) or models.detector(frame, 1)
        if rects:
            shape = models.shape_predictor_5(frame, rects[0])
            models.encoder.compute_face_descriptor(frame, shape)
    return time.perf_counter() - start


def pipeline_seconds(case: Case) -> float:
    from openem.biometrics.verify import verify_checkin

    start = time.perf_counter()
    verify_checkin(template=case.template, frames=case.genuine, challenge=case.challenge)
    return time.perf_counter() - start


def wilson_upper(errors: int, trials: int, z: float = 1.96) -> float:
    """Upper end of the 95% Wilson interval for an error rate (3/n-like when errors = 0)."""
    if trials == 0:
        return 1.0
    p = errors / trials
    centre = p + z * z / (2 * trials)
    spread = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return float((centre + spread) / (1 + z * z / trials))


def overhead_timings(cases: list[Case], *, repeats: int = 3) -> tuple[list[float], list[float]]:
    """Best-of-``repeats`` seconds per case, bare dlib and pipeline interleaved (load noise)."""
    bare, piped = [], []
    for case in cases:
        bare_runs, piped_runs = [], []
        for _ in range(repeats):
            bare_runs.append(bare_dlib_seconds(case.genuine))
            piped_runs.append(pipeline_seconds(case))
        bare.append(min(bare_runs))
        piped.append(min(piped_runs))
    return bare, piped


def _rate(decisions: list[CheckinDecision], outcome: str) -> float:
    return float(np.mean([d.outcome == outcome for d in decisions])) if decisions else float("nan")


def run_checkins_bench(
    faces_dir: Path,
    *,
    seconds: float,
    workers: int = 2,
    people: int = 24,
    overhead_repeats: int = 3,
) -> dict[str, Any]:
    """Closed loop with one check-in in flight per worker for ``seconds``, then attacks.

    The pipeline overhead is the best of ``overhead_repeats`` timings per case."""
    cases = build_cases(faces_dir, count=people)
    if not cases:
        raise ValueError("no usable people in the faces directory")
    bare, piped = overhead_timings(cases[:8], repeats=overhead_repeats)
    latencies: list[float] = []
    genuine: list[CheckinDecision] = []
    with FacePool(workers=workers) as pool:
        pool.verify_checkin(
            template=cases[0].template, frames=cases[0].genuine, challenge=cases[0].challenge
        ).result()
        start = time.perf_counter()
        in_flight: list[tuple[float, Future[CheckinDecision]]] = []
        submitted = 0
        while time.perf_counter() - start < seconds or in_flight:
            while len(in_flight) < workers and time.perf_counter() - start < seconds:
                case = cases[submitted % len(cases)]
                future = pool.verify_checkin(
                    template=case.template, frames=case.genuine, challenge=case.challenge
                )
                in_flight.append((time.perf_counter(), future))
                submitted += 1
            sent, future = in_flight.pop(0)
            genuine.append(future.result())
            latencies.append(time.perf_counter() - sent)
        elapsed = time.perf_counter() - start
        attacks = {
            kind: [
                pool.verify_checkin(
                    template=c.template, frames=getattr(c, kind), challenge=c.challenge
                )
                for c in cases
            ]
            for kind in ("static", "planar")
        }
        outcomes = {kind: [f.result() for f in futures] for kind, futures in attacks.items()}
    figures: dict[str, Any] = {
        "checkins_per_second": len(genuine) / elapsed,
        "latency_p50_ms": float(np.percentile(latencies, 50) * 1000),
        "latency_p95_ms": float(np.percentile(latencies, 95) * 1000),
        "pipeline_overhead": float(np.sum(piped) / np.sum(bare)),
        "bare_dlib_ms_per_checkin": float(np.mean(bare) * 1000),
        "pipeline_ms_per_checkin": float(np.mean(piped) * 1000),
        "apcer_static": _rate(outcomes["static"], "match"),
        "apcer_planar_warped": _rate(outcomes["planar"], "match"),
        "apcer_static_upper95": wilson_upper(
            sum(d.outcome == "match" for d in outcomes["static"]), len(outcomes["static"])
        ),
        "apcer_planar_warped_upper95": wilson_upper(
            sum(d.outcome == "match" for d in outcomes["planar"]), len(outcomes["planar"])
        ),
        "attack_presentations_per_type": len(cases),
        "simulated_genuine_match_rate": _rate(genuine, "match"),
        "simulated_genuine_liveness_failed_rate": _rate(genuine, "liveness_failed"),
        "checkins": len(genuine),
        "workers": workers,
    }
    targets = {
        name: {
            "target": target,
            "op": op,
            "met": bool(figures[name] >= target if op == ">=" else figures[name] <= target),
        }
        for name, (target, op) in TARGETS.items()
    }
    return {"name": "checkins", "machine": machine(), "figures": figures, "targets": targets}
