"""The enrolment setting reaches the face worker: jittered templates unless told otherwise."""

from __future__ import annotations

import numpy as np

from openem.biometrics.embedding import ENROLMENT_JITTERS, distance
from openem.biometrics.templates import FaceTemplate
from openem.checkins.faces import enrol_jpegs
from openem.config import Settings
from tests.checkins.conftest import photo as sample_photo


def _template(result: dict[str, object]) -> np.ndarray:
    data = result["template"]
    assert isinstance(data, bytes)
    return FaceTemplate.from_bytes(data).descriptors[0]


def test_enrolment_jitters_by_default_and_as_configured() -> None:
    assert Settings().face_enrolment_jitters is None  # the model's ENROLMENT_JITTERS
    photo = sample_photo("obama.jpg")
    default = _template(enrol_jpegs([photo]))
    configured = _template(enrol_jpegs([photo], ENROLMENT_JITTERS))
    plain = _template(enrol_jpegs([photo], 0))
    assert np.allclose(default, configured, atol=0.02)
    assert 0.0 < distance(default, plain) < 0.1
