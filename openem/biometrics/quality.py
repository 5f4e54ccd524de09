"""Quality gate for one frame: one clear subject, big enough, sharp, well exposed, frontal."""

from __future__ import annotations

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


DEFAULT_POLICY = QualityPolicy()


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
    if not boxes:
        return QualityResult(ok=False, reasons=("no_face",), measures=measures)
    reasons: list[str] = []
    comparable = comparable_other_faces(boxes, policy)
    measures["comparable_other_faces"] = float(comparable)
    if comparable:
        reasons.append("multiple_faces")
    measures["face_width_px"] = float(boxes[0].width)
    if boxes[0].width < policy.min_face_px:
        reasons.append("face_too_small")
    if pose is not None:
        measures.update(
            inter_eye_px=pose.inter_eye,
            yaw=pose.yaw,
            pitch=pose.pitch,
            roll_degrees=pose.roll_degrees,
        )
        if pose.inter_eye < policy.min_inter_eye_px:
            reasons.append("eyes_too_close")
        if (
            abs(pose.yaw) > policy.max_abs_yaw
            or abs(pose.roll_degrees) > policy.max_abs_roll_degrees
        ):
            reasons.append("not_frontal")
    if chip is not None:
        gray = to_gray(face_region(chip))
        measures.update(
            sharpness=laplacian_variance(gray),
            brightness=float(gray.mean()),
            contrast=float(gray.std()),
        )
        if measures["sharpness"] < policy.min_sharpness:
            reasons.append("blurred")
        if measures["brightness"] < policy.min_brightness:
            reasons.append("too_dark")
        elif measures["brightness"] > policy.max_brightness:
            reasons.append("too_bright")
        if measures["contrast"] < policy.min_contrast:
            reasons.append("low_contrast")
    return QualityResult(ok=not reasons, reasons=tuple(reasons), measures=measures)
