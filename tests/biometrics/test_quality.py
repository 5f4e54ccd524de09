from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from openem.biometrics.frames import analyse_frame
from openem.biometrics.model import FaceModels


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


def test_two_people_in_the_frame_are_refused(
    obama: np.ndarray, biden: np.ndarray, models: FaceModels
) -> None:
    height = 500
    left = np.asarray(
        Image.fromarray(obama).resize((height * obama.shape[1] // obama.shape[0], height))
    )
    right = np.asarray(
        Image.fromarray(biden).resize((height * biden.shape[1] // biden.shape[0], height))
    )
    assert "multiple_faces" in _reasons(np.hstack([left, right]), models)


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
