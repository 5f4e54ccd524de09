from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from openem.biometrics.embedding import detect_faces
from openem.biometrics.frames import analyse_frame
from openem.biometrics.model import FaceModels
from openem.biometrics.quality import ENROLMENT_POLICY, VERIFICATION_POLICY, judge_quality


def _reasons(image: np.ndarray, models: FaceModels) -> tuple[str, ...]:
    return analyse_frame(image, models=models).quality.reasons


def test_a_clear_frontal_photo_passes_the_gate(obama: np.ndarray, models: FaceModels) -> None:
    result = analyse_frame(obama, models=models).quality
    assert result.ok
    assert result.reasons == ()
    assert {"face_width_px", "inter_eye_px", "sharpness", "brightness", "yaw"} <= set(
        result.measures
    )


def test_a_frame_without_a_face_is_refused_as_no_face(models: FaceModels) -> None:
    grey = np.full((300, 300, 3), 128, dtype=np.uint8)
    assert _reasons(grey, models) == ("no_face",)


def _face_width(image: np.ndarray, models: FaceModels) -> int:
    return detect_faces(image, models=models)[0].width


def test_two_people_of_about_the_same_size_are_refused_for_enrolment_and_liveness(
    obama: np.ndarray, biden: np.ndarray, models: FaceModels
) -> None:
    height = 500
    obama_face = _face_width(obama, models) * height / obama.shape[0]
    biden_height = round(biden.shape[0] * obama_face / _face_width(biden, models))
    left = np.asarray(
        Image.fromarray(obama).resize((height * obama.shape[1] // obama.shape[0], height))
    )
    right = np.asarray(
        Image.fromarray(biden).resize(
            (biden_height * biden.shape[1] // biden.shape[0], biden_height)
        )
    )
    canvas = np.zeros((max(height, biden_height), left.shape[1] + right.shape[1], 3), np.uint8)
    canvas[:height, : left.shape[1]] = left
    canvas[:biden_height, left.shape[1] :] = right
    boxes = detect_faces(canvas, models=models)
    assert len(boxes) == 2 and min(b.width for b in boxes) >= 0.8 * max(b.width for b in boxes)
    assert "multiple_faces" in _reasons(canvas, models)
    check_in = analyse_frame(canvas, models=models, policy=VERIFICATION_POLICY)
    assert check_in.quality.ok  # the check-in gate compares the central face...
    assert not check_in.single_subject  # ...but liveness needs one subject per frame


def test_a_clearly_smaller_face_beside_the_subject_does_not_refuse_the_frame(
    obama: np.ndarray, biden: np.ndarray, models: FaceModels
) -> None:
    subject = np.asarray(Image.fromarray(obama).resize((obama.shape[1] // 2, obama.shape[0] // 2)))
    size = (round(biden.shape[1] * 0.58), round(biden.shape[0] * 0.58))
    bystander = np.asarray(Image.fromarray(biden).resize(size))[: subject.shape[0]]
    canvas = np.zeros((subject.shape[0], subject.shape[1] + bystander.shape[1], 3), np.uint8)
    canvas[:, : subject.shape[1]] = subject
    canvas[: bystander.shape[0], subject.shape[1] :] = bystander
    boxes = detect_faces(canvas, models=models)
    assert len(boxes) == 2
    assert boxes[1].width < 0.8 * boxes[0].width
    analysis = analyse_frame(canvas, models=models)
    assert "multiple_faces" not in analysis.quality.reasons
    assert analysis.quality.measures["comparable_other_faces"] == 0.0


def test_a_face_too_small_to_compare_is_refused(obama: np.ndarray, models: FaceModels) -> None:
    small = np.asarray(Image.fromarray(obama).resize((obama.shape[1] // 6, obama.shape[0] // 6)))
    reasons = _reasons(small, models)
    assert "face_too_small" in reasons
    assert "eyes_too_close" in reasons


def test_a_blurred_photo_is_refused(obama: np.ndarray, models: FaceModels) -> None:
    blurred = np.asarray(Image.fromarray(obama).filter(ImageFilter.GaussianBlur(6)))
    assert "blurred" in _reasons(blurred, models)


def test_a_dark_photo_is_refused(obama: np.ndarray, models: FaceModels) -> None:
    dark = (obama.astype(np.float64) * 0.25).astype(np.uint8)
    assert "too_dark" in _reasons(dark, models)


def _check_in_reasons(image: np.ndarray, models: FaceModels) -> tuple[str, ...]:
    return analyse_frame(image, models=models, policy=VERIFICATION_POLICY).quality.reasons


def test_the_check_in_gate_leaves_a_dark_photo_to_the_comparison(
    obama: np.ndarray, models: FaceModels
) -> None:
    dark = (obama.astype(np.float64) * 0.25).astype(np.uint8)
    assert _check_in_reasons(dark, models) == ()


def test_the_check_in_gate_refuses_a_frame_without_a_face_or_with_a_tiny_one(
    obama: np.ndarray, models: FaceModels
) -> None:
    grey = np.full((300, 300, 3), 128, dtype=np.uint8)
    assert _check_in_reasons(grey, models) == ("no_face",)
    small = np.asarray(Image.fromarray(obama).resize((obama.shape[1] // 6, obama.shape[0] // 6)))
    assert _check_in_reasons(small, models) == ("face_too_small",)


def test_the_check_in_gate_refuses_a_blur_beyond_any_measured_photo(
    obama: np.ndarray, models: FaceModels
) -> None:
    slightly = np.asarray(Image.fromarray(obama).filter(ImageFilter.GaussianBlur(5)))
    assert "blurred" in _reasons(slightly, models)
    assert "blurred" not in _check_in_reasons(slightly, models)
    smeared = np.asarray(Image.fromarray(obama).filter(ImageFilter.GaussianBlur(8)))
    assert "blurred" in _check_in_reasons(smeared, models)


def test_one_analysis_is_judged_by_either_gate_from_its_measures(
    obama: np.ndarray, models: FaceModels
) -> None:
    dark = (obama.astype(np.float64) * 0.25).astype(np.uint8)
    for image in (obama, dark):
        for policy in (ENROLMENT_POLICY, VERIFICATION_POLICY):
            analysed = analyse_frame(image, models=models, policy=policy).quality
            assert judge_quality(analysed.measures, policy) == analysed
    measures = analyse_frame(dark, models=models).quality.measures
    assert "too_dark" in judge_quality(measures, ENROLMENT_POLICY).reasons
    assert judge_quality(measures, VERIFICATION_POLICY).ok
