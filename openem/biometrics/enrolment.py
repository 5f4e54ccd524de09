"""Enrolment: 1-3 photos of one subject, each through the quality gate, into a template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from openem.biometrics.embedding import ENROLMENT_JITTERS
from openem.biometrics.frames import analyse_frame, describe_frame
from openem.biometrics.model import FaceModels, default_models
from openem.biometrics.quality import ENROLMENT_POLICY, QualityPolicy, QualityResult
from openem.biometrics.templates import FaceTemplate, build_template


@dataclass(frozen=True)
class EnrolmentResult:
    template: FaceTemplate | None
    quality: list[QualityResult]


def enrol_subject(
    *,
    images: Sequence[np.ndarray],
    models: FaceModels | None = None,
    policy: QualityPolicy = ENROLMENT_POLICY,
    jitters: int = ENROLMENT_JITTERS,
) -> EnrolmentResult:
    """Template from the enrolment photos that pass the quality gate: each described
    mirror-averaged and jittered (``jitters``), once, at enrolment."""
    models = models or default_models()
    descriptors = []
    qualities = []
    for image in images:
        analysis = analyse_frame(image, models=models, policy=policy, with_descriptor=False)
        qualities.append(analysis.quality)
        if analysis.quality.ok:
            described = describe_frame(
                analysis, models=models, mirror=True, jitters=jitters
            )
            if described.mirrored is not None:
                descriptors.append(described.mirrored)
    template = build_template(descriptors=descriptors) if descriptors else None
    return EnrolmentResult(template=template, quality=qualities)
