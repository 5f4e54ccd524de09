"""One frame through the pipeline: detect, landmarks, align, quality, descriptor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from openem.biometrics import embedding
from openem.biometrics.model import FaceModels, default_models
from openem.biometrics.pose import Pose, estimate_pose
from openem.biometrics.quality import DEFAULT_POLICY, QualityPolicy, QualityResult, assess_quality

# Maps an aligned chip and a jitter count to its descriptor (default: the ResNet itself);
# an offline evaluation passes a cached equivalent.
Describe = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class FrameAnalysis:
    """Everything later steps need about one frame; plain arrays, so it pickles."""

    quality: QualityResult
    face_count: int
    landmarks: np.ndarray | None
    landmarks_68: np.ndarray | None
    pose: Pose | None
    chip: np.ndarray | None
    descriptor: np.ndarray | None
    mirrored: np.ndarray | None = None  # average of the descriptor and its mirror image's

    @property
    def single_subject(self) -> bool:
        """A face was found and no other face makes it unclear whose it is.

        Judged from the measures, not the gate's reasons: the check-in gate does not refuse
        a second face, but liveness still needs one subject in every frame of the burst.
        """
        return self.face_count >= 1 and not self.quality.measures.get("comparable_other_faces")


def analyse_frame(
    image: np.ndarray,
    *,
    models: FaceModels | None = None,
    policy: QualityPolicy = DEFAULT_POLICY,
    describe: Describe | None = None,
    with_descriptor: bool = True,
) -> FrameAnalysis:
    """Analyse the primary face of a frame; the descriptor is computed even if quality fails.

    Without ``with_descriptor`` the frame is left for ``describe_frame``: the descriptor
    is most of a frame's cost.
    """
    models = models or default_models()
    prepared = embedding.prepare_image(image)
    boxes = embedding.detect_faces(prepared, models=models)
    if not boxes:
        return FrameAnalysis(
            quality=assess_quality(boxes=boxes, pose=None, chip=None, policy=policy),
            face_count=0,
            landmarks=None,
            landmarks_68=None,
            pose=None,
            chip=None,
            descriptor=None,
        )
    shape = embedding.shape_for(prepared, boxes[0], predictor=models.shape_predictor_5)
    landmarks = embedding.landmark_array(shape)
    landmarks_68 = None
    if models.shape_predictor_68 is not None:
        shape_68 = embedding.shape_for(prepared, boxes[0], predictor=models.shape_predictor_68)
        landmarks_68 = embedding.landmark_array(shape_68)
    pose = estimate_pose(landmarks)
    chip = embedding.face_chip(prepared, shape)
    return FrameAnalysis(
        quality=assess_quality(boxes=boxes, pose=pose, chip=chip, policy=policy),
        face_count=len(boxes),
        landmarks=landmarks,
        landmarks_68=landmarks_68,
        pose=pose,
        chip=chip,
        descriptor=_descriptor(chip, models, describe, embedding.DESCRIPTOR_JITTERS)
        if with_descriptor
        else None,
    )


def describe_frame(
    analysis: FrameAnalysis,
    *,
    models: FaceModels | None = None,
    mirror: bool = False,
    describe: Describe | None = None,
    jitters: int = embedding.DESCRIPTOR_JITTERS,
) -> FrameAnalysis:
    """The frame with its descriptor and, with ``mirror``, the average of that and the
    mirror image's (as enrolment photos are described). ``jitters`` applies to the
    descriptors this call computes (enrolment: ``embedding.ENROLMENT_JITTERS``)."""
    if analysis.chip is None or not (analysis.descriptor is None or mirror):
        return analysis
    models = models or default_models()
    plain = analysis.descriptor
    if plain is None:
        plain = _descriptor(analysis.chip, models, describe, jitters)
    mirrored = analysis.mirrored
    if mirror and mirrored is None:
        flipped = _descriptor(
            np.ascontiguousarray(analysis.chip[:, ::-1]), models, describe, jitters
        )
        mirrored = (plain + flipped) / 2.0
    return replace(analysis, descriptor=plain, mirrored=mirrored)


def _descriptor(
    chip: np.ndarray, models: FaceModels, describe: Describe | None, jitters: int
) -> np.ndarray:
    if describe is not None:
        return describe(chip, jitters)
    return embedding.describe_chip(chip, models=models, jitters=jitters)
