from __future__ import annotations

import numpy as np
import pytest

from openem.biometrics.enrolment import enrol_subject
from openem.biometrics.frames import analyse_frame
from openem.biometrics.model import MODEL_VERSION, FaceModels
from openem.biometrics.templates import FaceTemplate, TemplateError, build_template
from openem.biometrics.threshold import DEFAULT_THRESHOLD
from openem.biometrics.verify import decide_checkin, prompt_outcome, verify_checkin


@pytest.fixture(scope="module")
def obama_template(obama: np.ndarray, obama2: np.ndarray, models: FaceModels) -> FaceTemplate:
    template = enrol_subject(images=[obama, obama2], models=models).template
    assert template is not None
    return template


def test_the_same_person_in_another_photo_matches(
    obama_template: FaceTemplate, obama3: np.ndarray, models: FaceModels
) -> None:
    decision = verify_checkin(
        template=obama_template, frames=[obama3], challenge=None, models=models
    )
    assert decision.outcome == "match"
    assert decision.score is not None and decision.score <= decision.threshold
    assert decision.threshold == DEFAULT_THRESHOLD
    assert decision.model_version == MODEL_VERSION
    assert decision.quality[0]["ok"] is True


def test_another_person_does_not_match(
    obama_template: FaceTemplate, biden: np.ndarray, models: FaceModels
) -> None:
    decision = verify_checkin(
        template=obama_template, frames=[biden], challenge=None, models=models
    )
    assert decision.outcome == "no_match"
    assert decision.score is not None and decision.score > decision.threshold


def test_a_dark_frame_of_the_person_is_compared_not_sent_back(
    obama_template: FaceTemplate, obama3: np.ndarray, models: FaceModels
) -> None:
    dark = (obama3.astype(np.float64) * 0.25).astype(np.uint8)
    assert not analyse_frame(dark, models=models).quality.ok  # enrolment would refuse it
    decision = verify_checkin(template=obama_template, frames=[dark], challenge=None, models=models)
    assert decision.outcome == "match"
    assert decision.quality[0]["ok"] is True


def test_a_dark_frame_of_another_person_still_does_not_match(
    obama_template: FaceTemplate, biden: np.ndarray, models: FaceModels
) -> None:
    dark = (biden.astype(np.float64) * 0.25).astype(np.uint8)
    decision = verify_checkin(template=obama_template, frames=[dark], challenge=None, models=models)
    assert decision.outcome == "no_match"


def test_a_burst_without_a_usable_face_asks_for_a_retry(
    obama_template: FaceTemplate, models: FaceModels
) -> None:
    grey = np.full((240, 320, 3), 90, dtype=np.uint8)
    decision = verify_checkin(template=obama_template, frames=[grey], challenge=None, models=models)
    assert decision.outcome == "retry"
    assert decision.score is None
    assert "no_face" in decision.reasons


def test_a_template_from_another_model_version_is_refused(
    obama3: np.ndarray, models: FaceModels
) -> None:
    analysis = analyse_frame(obama3, models=models)
    assert analysis.descriptor is not None
    old = build_template(descriptors=[analysis.descriptor], model_version="old-model")
    with pytest.raises(TemplateError):
        decide_checkin(template=old, analyses=[analysis], challenge=None)


def test_a_template_takes_one_to_three_enrolment_descriptors() -> None:
    with pytest.raises(TemplateError):
        build_template(descriptors=[])
    with pytest.raises(TemplateError):
        build_template(descriptors=[np.zeros(128)] * 4)
    assert build_template(descriptors=[np.zeros(128)] * 3).descriptors.shape == (3, 128)


def test_a_prompt_allows_three_attempts_before_a_no_match_is_final(
    obama_template: FaceTemplate, biden: np.ndarray, obama3: np.ndarray, models: FaceModels
) -> None:
    miss = verify_checkin(template=obama_template, frames=[biden], challenge=None, models=models)
    hit = verify_checkin(template=obama_template, frames=[obama3], challenge=None, models=models)
    assert prompt_outcome([miss]) == "retry"
    assert prompt_outcome([miss, hit]) == "match"
    assert prompt_outcome([miss, miss, miss]) == "no_match"


def test_a_template_survives_storage_as_bytes(obama_template: FaceTemplate) -> None:
    restored = FaceTemplate.from_bytes(obama_template.to_bytes())
    assert restored.model_version == obama_template.model_version
    np.testing.assert_array_equal(restored.descriptors, obama_template.descriptors)
