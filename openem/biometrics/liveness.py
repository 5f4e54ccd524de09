"""Challenge-response liveness over a check-in burst.

The device asks for a random motion (turn left, turn right, nod). Across the burst we
check that (1) the requested motion happened, estimated from the landmarks, (2) every
frame shows one subject and the frames the decision reads (those carrying a descriptor:
the compared frame and the two showing the motion) show the same person, and (3) the
motion is not that of a flat picture.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from openem.biometrics.frames import FrameAnalysis
from openem.biometrics.planarity import PlanarityResult, landmark_planarity, texture_planarity

MIN_YAW_CHANGE = 0.12
MIN_PITCH_CHANGE = 0.08
SAME_PERSON_DISTANCE = 0.6


class Challenge(StrEnum):
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    NOD = "nod"


def new_challenge() -> Challenge:
    """A challenge the device cannot predict (drawn with the OS CSPRNG)."""
    return secrets.choice(list(Challenge))


@dataclass(frozen=True)
class LivenessResult:
    ok: bool
    reasons: tuple[str, ...]
    challenge: str
    frames: int
    yaw_change: float
    pitch_range: float
    max_same_person_distance: float
    planarity: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reasons"] = list(self.reasons)
        return data


def _motion(challenge: Challenge, yaws: np.ndarray, pitches: np.ndarray) -> tuple[bool, int, int]:
    """Whether the motion happened, and the two frames that show it best."""
    if challenge is Challenge.NOD:
        low, high = int(np.argmin(pitches)), int(np.argmax(pitches))
        return bool(pitches[high] - pitches[low] >= MIN_PITCH_CHANGE), low, high
    start = 0
    turned = int(np.argmax(yaws)) if challenge is Challenge.TURN_LEFT else int(np.argmin(yaws))
    change = yaws[turned] - yaws[start]
    if challenge is Challenge.TURN_RIGHT:
        change = -change
    return bool(change >= MIN_YAW_CHANGE), start, turned


def motion_frames(challenge: Challenge, frames: Sequence[FrameAnalysis]) -> tuple[int, int] | None:
    """The two frames that show the requested motion best (the first facing the camera for
    a turn), or None when a frame has no single subject to follow."""
    poses = _poses(frames)
    if poses is None:
        return None
    _, first, second = _motion(challenge, *poses)
    return first, second


def _poses(frames: Sequence[FrameAnalysis]) -> tuple[np.ndarray, np.ndarray] | None:
    """Yaws and pitches of the burst, or None unless every frame has one subject to follow."""
    if len(frames) < 2 or not all(f.single_subject and f.pose is not None for f in frames):
        return None
    yaws = np.array([f.pose.yaw for f in frames if f.pose is not None])
    pitches = np.array([f.pose.pitch for f in frames if f.pose is not None])
    return yaws, pitches


def check_liveness(
    *,
    challenge: Challenge,
    frames: Sequence[FrameAnalysis],
    same_person_distance: float = SAME_PERSON_DISTANCE,
) -> LivenessResult:
    """Judge a burst (frames in capture order, the first one facing the camera).

    The same-person check compares the frames that carry a descriptor, which must include
    the two ``motion_frames``: the decision describes only the frames it reads.
    """
    poses = _poses(frames)
    if poses is None:
        return LivenessResult(
            False,
            ("face_missing_in_burst",),
            challenge.value,
            len(frames),
            0.0,
            0.0,
            float("nan"),
            None,
        )
    yaws, pitches = poses
    moved, first, second = _motion(challenge, yaws, pitches)
    if frames[first].descriptor is None or frames[second].descriptor is None:
        raise ValueError("liveness needs the descriptors of the frames showing the motion")
    reasons: list[str] = []
    if not moved:
        reasons.append("requested_motion_not_seen")
    descriptors = np.stack([f.descriptor for f in frames if f.descriptor is not None])
    spread = float(np.linalg.norm(descriptors[:, None] - descriptors[None, :], axis=-1).max())
    if spread > same_person_distance:
        reasons.append("different_faces_in_burst")
    planarity = _planarity(frames[first], frames[second]) if first != second else None
    if planarity is None or not planarity.conclusive:
        reasons.append("planarity_inconclusive")
    elif planarity.planar:
        reasons.append("planar_motion")
    return LivenessResult(
        ok=not reasons,
        reasons=tuple(reasons),
        challenge=challenge.value,
        frames=len(frames),
        yaw_change=float(yaws[second] - yaws[first]),
        pitch_range=float(pitches.max() - pitches.min()),
        max_same_person_distance=spread,
        planarity=asdict(planarity) if planarity is not None else None,
    )


def _planarity(first: FrameAnalysis, second: FrameAnalysis) -> PlanarityResult | None:
    if first.landmarks_68 is not None and second.landmarks_68 is not None and first.pose:
        by_landmarks = landmark_planarity(
            first.landmarks_68, second.landmarks_68, inter_eye=first.pose.inter_eye
        )
        if by_landmarks.planar:
            return by_landmarks
    if first.chip is None or second.chip is None:
        return None
    return texture_planarity(first.chip, second.chip)
