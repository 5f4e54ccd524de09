"""The dlib model set: HOG and CNN detectors, landmark predictors, the ResNet descriptor.

Weights come only from the ``face_recognition_models`` package; nothing is downloaded.
Each process loads the set once (dlib objects are not thread-safe: use one set per
worker process, see :mod:`openem.biometrics.pool`).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import dlib
import face_recognition_models

MODEL_VERSION = "dlib-resnet-v1/hog/sp5/chip150-p0.25/enrol-mirror-avg"
LANDMARKS_68_ENV = "OPENEM_BIOMETRICS_LANDMARKS_68"


def landmarks_68_enabled() -> bool:
    """Whether the 68-point predictor (iBUG 300-W, non-commercial data) is switched on."""
    return os.environ.get(LANDMARKS_68_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class FaceModels:
    detector: Any
    shape_predictor_5: Any
    encoder: Any
    shape_predictor_68: Any | None
    cnn_detector: Any | None = None


@functools.cache
def load_models(*, landmarks_68: bool = False) -> FaceModels:
    """Load (once per process and setting) the models used by the pipeline."""
    predictor_68 = (
        dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
        if landmarks_68
        else None
    )
    return FaceModels(
        detector=dlib.get_frontal_face_detector(),
        shape_predictor_5=dlib.shape_predictor(
            face_recognition_models.pose_predictor_five_point_model_location()
        ),
        encoder=dlib.face_recognition_model_v1(
            face_recognition_models.face_recognition_model_location()
        ),
        shape_predictor_68=predictor_68,
        cnn_detector=dlib.cnn_face_detection_model_v1(
            face_recognition_models.cnn_face_detector_model_location()
        ),
    )


def default_models() -> FaceModels:
    return load_models(landmarks_68=landmarks_68_enabled())
