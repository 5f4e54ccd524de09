from __future__ import annotations

import numpy as np
import pytest

from openem.biometrics.embedding import prepare_image
from openem.biometrics.model import FaceModels, load_models
from tests.biometrics import sample_images


@pytest.fixture(scope="session")
def models() -> FaceModels:
    return load_models()


@pytest.fixture(scope="session")
def obama() -> np.ndarray:
    return prepare_image(sample_images.load("obama.jpg"))


@pytest.fixture(scope="session")
def obama2() -> np.ndarray:
    return prepare_image(sample_images.load("obama2.jpg"))


@pytest.fixture(scope="session")
def obama3() -> np.ndarray:
    return prepare_image(sample_images.load("obama3.jpg"))


@pytest.fixture(scope="session")
def biden() -> np.ndarray:
    return prepare_image(sample_images.load("biden.jpg"))


@pytest.fixture(scope="session")
def obama_portrait(obama: np.ndarray, models: FaceModels) -> np.ndarray:
    """A head-and-shoulders crop around the face, like a phone's front camera frame."""
    from openem.biometrics.embedding import detect_faces

    box = detect_faces(obama, models=models)[0]
    cx, cy = (box.left + box.right) // 2, (box.top + box.bottom) // 2
    half = box.width
    top, left = max(cy - half, 0), max(cx - half, 0)
    return np.ascontiguousarray(obama[top : cy + half, left : cx + half])
