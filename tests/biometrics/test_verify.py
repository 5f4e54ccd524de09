from __future__ import annotations

import numpy as np
import pytest

from openem.biometrics.embedding import ENROLMENT_JITTERS, distance
from openem.biometrics.enrolment import enrol_subject
from openem.biometrics.frames import FrameAnalysis, analyse_frame, describe_frame
from openem.biometrics.liveness import Challenge, check_liveness, motion_frames
from openem.biometrics.model import MODEL_VERSION, FaceModels
from openem.biometrics.synthetic import simulated_turn
from openem.biometrics.templates import FaceTemplate, TemplateError, build_template
from openem.biometrics.threshold import DEFAULT_THRESHOLD
from openem.biometrics.verify import (
    compared_frame,
    decide_checkin,
    describe_for_decision,
    prompt_outcome,
    verify_checkin,
)


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


def _turn(portrait: np.ndarray, models: FaceModels) -> list[np.ndarray]:
    landmarks = analyse_frame(portrait, models=models, with_descriptor=False).landmarks
    assert landmarks is not None
    return simulated_turn(portrait, landmarks=landmarks, challenge=Challenge.TURN_LEFT)


def _undescribed_turn(portrait: np.ndarray, models: FaceModels) -> list[FrameAnalysis]:
    return [
        analyse_frame(frame, models=models, with_descriptor=False)
        for frame in _turn(portrait, models)
    ]


def test_only_the_frames_the_decision_reads_are_described(
    obama_portrait: np.ndarray, models: FaceModels
) -> None:
    analyses = _undescribed_turn(obama_portrait, models)
    assert all(a.descriptor is None for a in analyses)

    described = describe_for_decision(analyses, Challenge.TURN_LEFT, models=models)

    compared = compared_frame(described)
    shown = motion_frames(Challenge.TURN_LEFT, described)
    assert compared == 0 and shown is not None
    for index, analysis in enumerate(described):
        assert (analysis.descriptor is not None) == (index in {compared, *shown})
        assert (analysis.mirrored is not None) == (index == compared)
    assert sum(a.descriptor is None for a in described) == 1  # 3 frames, 2 read


def test_the_compared_frame_is_mirror_averaged_like_the_enrolment_photos(
    obama_template: FaceTemplate, obama3: np.ndarray, models: FaceModels
) -> None:
    plain = analyse_frame(obama3, models=models)
    mirrored = describe_for_decision([plain], None, models=models)[0]
    assert mirrored.mirrored is not None
    assert not np.allclose(mirrored.mirrored, plain.descriptor)

    decision = verify_checkin(
        template=obama_template, frames=[obama3], challenge=None, models=models
    )
    by_plain = decide_checkin(template=obama_template, analyses=[plain], challenge=None)
    by_mirrored = decide_checkin(template=obama_template, analyses=[mirrored], challenge=None)
    assert decision.score == pytest.approx(by_mirrored.score)
    assert decision.score != pytest.approx(by_plain.score)


def test_a_photo_of_the_wearer_before_someone_else_turning_fails_liveness(
    obama_template: FaceTemplate, obama_portrait: np.ndarray, biden: np.ndarray,
    models: FaceModels,
) -> None:
    """The wearer's photo is the compared frame; the motion is real but another person's."""
    impostor_turning = _turn(np.ascontiguousarray(biden), models)
    frames = [obama_portrait, *impostor_turning[1:]]

    decision = verify_checkin(
        template=obama_template, frames=frames, challenge=Challenge.TURN_LEFT, models=models
    )

    assert decision.outcome == "liveness_failed"
    assert "different_faces_in_burst" in decision.reasons


def test_liveness_refuses_to_judge_motion_frames_without_descriptors(
    obama_portrait: np.ndarray, models: FaceModels
) -> None:
    analyses = _undescribed_turn(obama_portrait, models)
    with pytest.raises(ValueError, match="descriptors"):
        check_liveness(challenge=Challenge.TURN_LEFT, frames=analyses)


def test_enrolment_photos_are_described_jittered_and_mirror_averaged(
    obama_template: FaceTemplate, obama: np.ndarray, models: FaceModels
) -> None:
    analysis = analyse_frame(obama, models=models, with_descriptor=False)
    plain = describe_frame(analysis, models=models, mirror=True)
    jittered = describe_frame(analysis, models=models, mirror=True, jitters=ENROLMENT_JITTERS)
    assert plain.mirrored is not None and jittered.mirrored is not None
    assert np.allclose(obama_template.descriptors[0], jittered.mirrored, atol=0.02)
    assert not np.allclose(obama_template.descriptors[0], plain.mirrored, atol=1e-3)
    # jitter moves the descriptor a little, never to another person
    assert 0.0 < distance(jittered.mirrored, plain.mirrored) < DEFAULT_THRESHOLD / 4
