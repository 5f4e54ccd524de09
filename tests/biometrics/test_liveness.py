from __future__ import annotations

import numpy as np
import pytest

from openem.biometrics.enrolment import enrol_subject
from openem.biometrics.frames import analyse_frame
from openem.biometrics.liveness import Challenge, check_liveness, new_challenge
from openem.biometrics.model import FaceModels
from openem.biometrics.synthetic import planar_replay, simulated_turn, static_replay
from openem.biometrics.verify import verify_checkin


def _landmarks(image: np.ndarray, models: FaceModels) -> np.ndarray:
    landmarks = analyse_frame(image, models=models).landmarks
    assert landmarks is not None
    return landmarks


def test_challenges_are_drawn_from_turn_left_turn_right_and_nod() -> None:
    drawn = {new_challenge() for _ in range(60)}
    assert drawn == set(Challenge)


@pytest.mark.parametrize("challenge", list(Challenge))
def test_a_head_turning_as_asked_passes(
    challenge: Challenge, obama_portrait: np.ndarray, models: FaceModels
) -> None:
    frames = simulated_turn(
        obama_portrait, landmarks=_landmarks(obama_portrait, models), challenge=challenge
    )
    result = check_liveness(
        challenge=challenge, frames=[analyse_frame(f, models=models) for f in frames]
    )
    assert result.ok, result.reasons
    assert result.planarity is not None and not result.planarity["planar"]


def test_turning_the_wrong_way_fails(obama_portrait: np.ndarray, models: FaceModels) -> None:
    frames = simulated_turn(
        obama_portrait, landmarks=_landmarks(obama_portrait, models), challenge=Challenge.TURN_LEFT
    )
    result = check_liveness(
        challenge=Challenge.TURN_RIGHT, frames=[analyse_frame(f, models=models) for f in frames]
    )
    assert "requested_motion_not_seen" in result.reasons


def test_a_static_photo_replay_is_rejected(obama_portrait: np.ndarray, models: FaceModels) -> None:
    frames = static_replay(obama_portrait)
    result = check_liveness(
        challenge=Challenge.TURN_LEFT, frames=[analyse_frame(f, models=models) for f in frames]
    )
    assert not result.ok
    assert "requested_motion_not_seen" in result.reasons


@pytest.mark.parametrize("challenge", list(Challenge))
def test_a_photo_tilted_to_fake_the_motion_is_rejected_as_planar(
    challenge: Challenge, obama_portrait: np.ndarray, models: FaceModels
) -> None:
    frames = planar_replay(obama_portrait, challenge=challenge)
    result = check_liveness(
        challenge=challenge, frames=[analyse_frame(f, models=models) for f in frames]
    )
    assert not result.ok
    assert "planar_motion" in result.reasons


def test_swapping_in_another_face_mid_burst_is_rejected(
    obama_portrait: np.ndarray, biden: np.ndarray, models: FaceModels
) -> None:
    frames = simulated_turn(
        obama_portrait, landmarks=_landmarks(obama_portrait, models), challenge=Challenge.NOD
    )
    frames[1] = biden
    result = check_liveness(
        challenge=Challenge.NOD, frames=[analyse_frame(f, models=models) for f in frames]
    )
    assert "different_faces_in_burst" in result.reasons


def test_a_replayed_photo_of_the_subject_never_matches(
    obama_portrait: np.ndarray, obama2: np.ndarray, models: FaceModels
) -> None:
    template = enrol_subject(images=[obama2], models=models).template
    assert template is not None
    for frames in (
        static_replay(obama_portrait),
        planar_replay(obama_portrait, challenge=Challenge.TURN_LEFT),
    ):
        decision = verify_checkin(
            template=template, frames=frames, challenge=Challenge.TURN_LEFT, models=models
        )
        assert decision.outcome == "liveness_failed"
        assert decision.liveness is not None and decision.score is not None
