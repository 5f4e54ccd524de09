"""Quality gates for one frame: the full gate for enrolment, a lighter one for check-ins.

Enrolment photos (``ENROLMENT_POLICY``) must show one clear subject, big enough, sharp,
well exposed and frontal: a template is compared with every later check-in. A check-in
frame (``VERIFICATION_POLICY``) is refused only when it cannot be compared at all: no
face, a face too small, or a blur beyond any photo the model was measured on. Everything
else is left to the comparison, whose threshold is calibrated with this gate, so the
false-match rate holds (docs/biometrics.md, "Measured choices").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from openem.biometrics.embedding import FaceBox
from openem.biometrics.pose import Pose


@dataclass(frozen=True)
class QualityPolicy:
    min_face_px: int = 64
    min_inter_eye_px: float = 28.0
    min_sharpness: float = 8.0
    min_brightness: float = 50.0
    max_brightness: float = 215.0
    min_contrast: float = 12.0
    max_abs_yaw: float = 0.40
    max_abs_roll_degrees: float = 25.0
    other_face_min_score: float = 0.5
    other_face_min_ratio: float = 0.8
    refuse_multiple_faces: bool = True


ENROLMENT_POLICY = QualityPolicy()
DEFAULT_POLICY = ENROLMENT_POLICY  # analyse_frame's default: the full gate
# Check-in frames: no face, a box under 64 px or a blur under 4 (the blurriest of the
# 4,364 LFW photos measures 4.6) cannot be compared; nothing else is refused.
VERIFICATION_POLICY = QualityPolicy(
    min_inter_eye_px=0.0,
    min_sharpness=4.0,
    min_brightness=0.0,
    max_brightness=255.0,
    min_contrast=0.0,
    max_abs_yaw=math.inf,
    max_abs_roll_degrees=math.inf,
    refuse_multiple_faces=False,
)


@dataclass(frozen=True)
class QualityResult:
    ok: bool
    reasons: tuple[str, ...]
    measures: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reasons"] = list(self.reasons)
        return data


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: falls as the image blurs."""
    g = gray.astype(np.float64)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def to_gray(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def face_region(chip: np.ndarray) -> np.ndarray:
    """The central part of an aligned chip: face skin and features, little background."""
    n = chip.shape[0]
    lo, hi = int(n * 0.25), int(n * 0.8)
    return chip[lo:hi, int(n * 0.22) : int(n * 0.78)]


def comparable_other_faces(boxes: list[FaceBox], policy: QualityPolicy = DEFAULT_POLICY) -> int:
    """Other faces that make it unclear whose face is checked: confident and about as big.

    ``boxes[0]`` is the subject's face (nearest the centre). A weak detection (HOG score
    below ``other_face_min_score``: often part of a face at the frame's edge or a false
    detection) or a clearly smaller face in the background does not count.
    """
    if not boxes:
        return 0
    primary = boxes[0]
    return sum(
        1
        for box in boxes[1:]
        if box.score >= policy.other_face_min_score
        and box.width >= policy.other_face_min_ratio * primary.width
    )


def assess_quality(
    *,
    boxes: list[FaceBox],
    pose: Pose | None,
    chip: np.ndarray | None,
    policy: QualityPolicy = DEFAULT_POLICY,
) -> QualityResult:
    """Judge one frame from its detections, the first face's pose and aligned chip."""
    measures: dict[str, float] = {"face_count": float(len(boxes))}
    if boxes:
        measures["comparable_other_faces"] = float(comparable_other_faces(boxes, policy))
        measures["face_width_px"] = float(boxes[0].width)
    if boxes and pose is not None:
        measures.update(
            inter_eye_px=pose.inter_eye,
            yaw=pose.yaw,
            pitch=pose.pitch,
            roll_degrees=pose.roll_degrees,
        )
    if boxes and chip is not None:
        gray = to_gray(face_region(chip))
        measures.update(
            sharpness=laplacian_variance(gray),
            brightness=float(gray.mean()),
            contrast=float(gray.std()),
        )
    return judge_quality(measures, policy)


def judge_quality(measures: dict[str, float], policy: QualityPolicy) -> QualityResult:
    """The verdict of ``policy`` on a frame's measures (from ``assess_quality``).

    Lets one analysis be judged by both gates (the evaluation needs the enrolment and the
    check-in verdict of every photo). Other faces are counted with the measuring policy's
    ``other_face_*`` limits.
    """
    if not measures.get("face_count"):
        return QualityResult(ok=False, reasons=("no_face",), measures=dict(measures))
    reasons: list[str] = []
    if policy.refuse_multiple_faces and measures.get("comparable_other_faces", 0.0):
        reasons.append("multiple_faces")
    if measures["face_width_px"] < policy.min_face_px:
        reasons.append("face_too_small")
    if "inter_eye_px" in measures:
        if measures["inter_eye_px"] < policy.min_inter_eye_px:
            reasons.append("eyes_too_close")
        if (
            abs(measures["yaw"]) > policy.max_abs_yaw
            or abs(measures["roll_degrees"]) > policy.max_abs_roll_degrees
        ):
            reasons.append("not_frontal")
    if "sharpness" in measures:
        if measures["sharpness"] < policy.min_sharpness:
            reasons.append("blurred")
        if measures["brightness"] < policy.min_brightness:
            reasons.append("too_dark")
        elif measures["brightness"] > policy.max_brightness:
            reasons.append("too_bright")
        if measures["contrast"] < policy.min_contrast:
            reasons.append("low_contrast")
    return QualityResult(ok=not reasons, reasons=tuple(reasons), measures=dict(measures))
