from __future__ import annotations

import numpy as np
from PIL import Image

from openem.biometrics import embedding
from openem.biometrics.frames import analyse_frame
from openem.biometrics.model import FaceModels


def _tilted(portrait: np.ndarray, degrees: float) -> np.ndarray:
    small = Image.fromarray(portrait).resize((250, 250))
    return np.ascontiguousarray(small.rotate(degrees, resample=Image.Resampling.BILINEAR))


def test_a_face_the_hog_detector_misses_is_found_by_the_cnn_fallback(
    obama_portrait: np.ndarray, models: FaceModels
) -> None:
    tilted = _tilted(obama_portrait, 60)
    assert all(not embedding.detect_faces(tilted, models=models, upsample=u) for u in (0, 1, 2))
    boxes = embedding.detect_faces(tilted, models=models)
    assert len(boxes) == 1
    analysis = analyse_frame(tilted, models=models)
    assert analysis.descriptor is not None
    assert "no_face" not in analysis.quality.reasons
    assert "not_frontal" in analysis.quality.reasons


def test_the_aligned_chip_of_a_tilted_face_matches_the_upright_one(
    obama_portrait: np.ndarray, models: FaceModels
) -> None:
    upright = analyse_frame(_tilted(obama_portrait, 0), models=models).descriptor
    tilted = analyse_frame(_tilted(obama_portrait, 60), models=models).descriptor
    assert upright is not None and tilted is not None
    assert embedding.distance(upright, tilted) < 0.4


def test_a_frame_without_a_face_still_fails_to_acquire(models: FaceModels) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    assert embedding.detect_faces(noise, models=models) == []
