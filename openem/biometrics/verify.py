"""The 1:1 check-in decision: one burst of frames against one subject's template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from openem.biometrics.frames import FrameAnalysis, analyse_frame, describe_frame
from openem.biometrics.liveness import (
    Challenge,
    LivenessResult,
    check_liveness,
    motion_frames,
)
from openem.biometrics.model import MODEL_VERSION, FaceModels
from openem.biometrics.quality import VERIFICATION_POLICY, QualityPolicy
from openem.biometrics.templates import (
    DEFAULT_FUSION,
    FaceTemplate,
    TemplateError,
    template_distance,
)
from openem.biometrics.threshold import DEFAULT_THRESHOLD

Outcome = Literal["match", "no_match", "retry", "liveness_failed"]
PromptOutcome = Literal["match", "no_match", "retry", "liveness_failed", "no_usable_frames"]
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class CheckinDecision:
    """What is stored with every decision: outcome, score, threshold, model, quality, liveness."""

    outcome: Outcome
    score: float | None
    threshold: float
    model_version: str
    quality: list[dict[str, Any]]
    liveness: dict[str, Any] | None
    frames_matched: int  # frames compared with the template (0 or 1)
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "score": self.score,
            "threshold": self.threshold,
            "model_version": self.model_version,
            "quality": self.quality,
            "liveness": self.liveness,
            "frames_matched": self.frames_matched,
            "reasons": self.reasons,
        }


def verify_checkin(
    *,
    template: FaceTemplate,
    frames: Sequence[np.ndarray],
    challenge: Challenge | None,
    threshold: float = DEFAULT_THRESHOLD,
    models: FaceModels | None = None,
    policy: QualityPolicy = VERIFICATION_POLICY,
) -> CheckinDecision:
    """Analyse a burst (capture order, first frame facing the camera) and decide.

    Frames go through the check-in gate (``VERIFICATION_POLICY``): only a frame that cannot
    be compared is refused (``retry``); the enrolment photos passed the full gate. Only the
    frames the decision reads are described (``describe_for_decision``).
    """
    analyses = [
        analyse_frame(frame, models=models, policy=policy, with_descriptor=False)
        for frame in frames
    ]
    return decide_checkin(
        template=template,
        analyses=describe_for_decision(analyses, challenge, models=models),
        challenge=challenge,
        threshold=threshold,
    )


def compared_frame(analyses: Sequence[FrameAnalysis]) -> int | None:
    """The frame compared with the template: the first that passes the check-in gate (the
    burst starts facing the camera), else the first with a face (scored, then retried)."""
    with_face = [i for i, a in enumerate(analyses) if a.chip is not None]
    passing = [i for i in with_face if analyses[i].quality.ok]
    candidates = passing or with_face
    return candidates[0] if candidates else None


def describe_for_decision(
    analyses: Sequence[FrameAnalysis],
    challenge: Challenge | None,
    *,
    models: FaceModels | None = None,
) -> list[FrameAnalysis]:
    """Descriptors for the frames the decision reads, and no others (a descriptor is most
    of a frame's cost): the compared frame, mirror-averaged as the enrolment photos are,
    and the two frames showing the challenge's motion, for the same-person check."""
    compared = compared_frame(analyses)
    shown = set(motion_frames(challenge, analyses) or ()) if challenge is not None else set()
    return [
        describe_frame(a, models=models, mirror=i == compared)
        if i == compared or i in shown
        else a
        for i, a in enumerate(analyses)
    ]


def decide_checkin(
    *,
    template: FaceTemplate,
    analyses: Sequence[FrameAnalysis],
    challenge: Challenge | None,
    threshold: float = DEFAULT_THRESHOLD,
) -> CheckinDecision:
    """Decide from analysed frames. Liveness first, then quality, then the 1:1 comparison
    of the ``compared_frame`` (its mirror-averaged descriptor where it has one)."""
    if template.model_version != MODEL_VERSION:
        raise TemplateError("template was made with another model version: re-enrol")
    compared = compared_frame(analyses)
    usable = compared is not None and analyses[compared].quality.ok
    score = None
    if compared is not None:
        score = template_distance(template, [_probe(analyses[compared])], fusion=DEFAULT_FUSION)
    liveness: LivenessResult | None = None
    if challenge is not None:
        liveness = check_liveness(challenge=challenge, frames=analyses)
    outcome: Outcome
    reasons: list[str] = []
    if liveness is not None and not liveness.ok and liveness.reasons != ("face_missing_in_burst",):
        outcome, reasons = "liveness_failed", list(liveness.reasons)
    elif not usable or (liveness is not None and not liveness.ok):
        outcome = "retry"
        reasons = sorted({r for a in analyses for r in a.quality.reasons})
        if liveness is not None and not liveness.ok:
            reasons += list(liveness.reasons)
    else:
        outcome = "match" if score is not None and score <= threshold else "no_match"
    return CheckinDecision(
        outcome=outcome,
        score=score,
        threshold=threshold,
        model_version=MODEL_VERSION,
        quality=[a.quality.as_dict() for a in analyses],
        liveness=liveness.as_dict() if liveness is not None else None,
        frames_matched=int(usable),
        reasons=reasons,
    )


def _probe(analysis: FrameAnalysis) -> np.ndarray:
    if analysis.mirrored is not None:
        return analysis.mirrored
    if analysis.descriptor is None:
        raise ValueError("the compared frame has no descriptor: use describe_for_decision")
    return analysis.descriptor


def prompt_outcome(
    decisions: Sequence[CheckinDecision], *, max_attempts: int = MAX_ATTEMPTS
) -> PromptOutcome:
    """Outcome of a prompt after its attempts; "retry" while attempts remain.

    A no-match is only a finding for a person to review, never a breach by itself.
    """
    outcomes = [d.outcome for d in decisions]
    if "match" in outcomes:
        return "match"
    if len(outcomes) < max_attempts:
        return "retry"
    if "liveness_failed" in outcomes:
        return "liveness_failed"
    if "no_match" in outcomes:
        return "no_match"
    return "no_usable_frames"
