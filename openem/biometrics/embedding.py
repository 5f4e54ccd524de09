"""Detection, 5-point landmarks, alignment (dlib.get_face_chip) and the 128-d descriptor."""

from __future__ import annotations

from dataclasses import dataclass

import dlib
import numpy as np
from PIL import Image

from openem.biometrics.model import FaceModels

MAX_SIDE = 1024
SMALL_IMAGE_SIDE = 640
CHIP_SIZE = 150
CHIP_PADDING = 0.25
DESCRIPTOR_JITTERS = 0


@dataclass(frozen=True)
class FaceBox:
    left: int
    top: int
    right: int
    bottom: int
    score: float

    @property
    def width(self) -> int:
        return self.right - self.left

    def rectangle(self) -> dlib.rectangle:
        return dlib.rectangle(self.left, self.top, self.right, self.bottom)


def prepare_image(image: np.ndarray) -> np.ndarray:
    """RGB uint8, C-contiguous, longest side at most MAX_SIDE."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError("expected an RGB image array of shape (height, width, 3)")
    array = array[:, :, :3]
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    longest = max(array.shape[:2])
    if longest > MAX_SIDE:
        scale = MAX_SIDE / longest
        size = (round(array.shape[1] * scale), round(array.shape[0] * scale))
        array = np.asarray(Image.fromarray(array).resize(size, Image.Resampling.BILINEAR))
    return np.ascontiguousarray(array)


def detect_faces(
    image: np.ndarray, *, models: FaceModels, upsample: int | None = None
) -> list[FaceBox]:
    """HOG detections, largest first. A small frame with no face found is retried upsampled."""
    if upsample is None:
        boxes = detect_faces(image, models=models, upsample=0)
        if boxes or max(image.shape[:2]) > SMALL_IMAGE_SIDE:
            return boxes
        upsample = 1
    rects, scores, _ = models.detector.run(image, upsample, 0.0)
    boxes = [
        FaceBox(int(r.left()), int(r.top()), int(r.right()), int(r.bottom()), float(s))
        for r, s in zip(rects, scores, strict=True)
    ]
    return sorted(boxes, key=lambda b: (b.width, b.score), reverse=True)


def shape_for(image: np.ndarray, box: FaceBox, *, predictor: object) -> dlib.full_object_detection:
    return predictor(image, box.rectangle())  # type: ignore[operator]


def landmark_array(shape: dlib.full_object_detection) -> np.ndarray:
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def face_chip(image: np.ndarray, shape: dlib.full_object_detection) -> np.ndarray:
    return np.asarray(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))


def describe_chip(
    chip: np.ndarray,
    *,
    models: FaceModels,
    jitters: int = DESCRIPTOR_JITTERS,
    mirror: bool = False,
) -> np.ndarray:
    """128-d descriptor of an aligned chip; optionally averaged with its mirror image."""
    chips = [np.ascontiguousarray(chip)]
    if mirror:
        chips.append(np.ascontiguousarray(chip[:, ::-1]))
    vectors = models.encoder.compute_face_descriptor(chips, jitters)
    return np.mean([np.asarray(v, dtype=np.float64) for v in vectors], axis=0)


def embed_largest_face(
    image: np.ndarray, *, models: FaceModels, mirror: bool = False
) -> np.ndarray | None:
    """Descriptor of the largest detected face, or None when no face is found."""
    prepared = prepare_image(image)
    boxes = detect_faces(prepared, models=models)
    if not boxes:
        return None
    shape = shape_for(prepared, boxes[0], predictor=models.shape_predictor_5)
    return describe_chip(face_chip(prepared, shape), models=models, mirror=mirror)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))
