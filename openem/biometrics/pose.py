"""Head pose estimates from the 5-point landmarks (similarity-invariant ratios).

dlib's 5-point model orders points: 0-1 corners of the eye on the image's left,
2-3 corners of the other eye, 4 the base of the nose. Frames are expected unmirrored
(as the camera sees the subject), so a subject turning to their own left moves the
nose towards the image's right: yaw increases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOSE_DEPTH_RATIO = 0.6


@dataclass(frozen=True)
class Pose:
    yaw: float
    pitch: float
    roll_degrees: float
    inter_eye: float

    @property
    def yaw_degrees(self) -> float:
        return float(np.degrees(np.arcsin(np.clip(self.yaw / NOSE_DEPTH_RATIO, -1.0, 1.0))))


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the eye on the image's left and right, for 5- or 68-point landmarks."""
    if len(landmarks) == 68:
        first, second = landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)
    else:
        first, second = landmarks[0:2].mean(axis=0), landmarks[2:4].mean(axis=0)
    return (first, second) if first[0] <= second[0] else (second, first)


def nose_point(landmarks: np.ndarray) -> np.ndarray:
    return landmarks[33] if len(landmarks) == 68 else landmarks[4]


def estimate_pose(landmarks: np.ndarray) -> Pose:
    """Yaw: nose offset along the eye line; pitch: nose drop below it; per eye distance."""
    left, right = eye_centres(landmarks)
    axis = right - left
    inter_eye = float(np.linalg.norm(axis))
    if inter_eye == 0.0:
        return Pose(yaw=0.0, pitch=0.0, roll_degrees=0.0, inter_eye=0.0)
    unit = axis / inter_eye
    normal = np.array([-unit[1], unit[0]])
    offset = nose_point(landmarks) - (left + right) / 2.0
    return Pose(
        yaw=float(offset @ unit / inter_eye),
        pitch=float(offset @ normal / inter_eye),
        roll_degrees=float(np.degrees(np.arctan2(axis[1], axis[0]))),
        inter_eye=inter_eye,
    )
