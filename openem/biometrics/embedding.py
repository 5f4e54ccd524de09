"""Detection (HOG, CNN fallback), 5-point landmarks, alignment (get_face_chip), descriptor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO

import dlib
import numpy as np
from PIL import Image

from openem.biometrics.model import FaceModels

MAX_SIDE = 1024
SMALL_IMAGE_SIDE = 640
TINY_IMAGE_SIDE = 320
CHIP_SIZE = 150
CHIP_PADDING = 0.25
DESCRIPTOR_JITTERS = 0
# An enrolment photo is described once, so it can afford dlib's jitter: the mean over this
# many randomly shifted, scaled, rotated and flipped copies of the chip (docs/biometrics.md,
# "Measured choices"). A check-in frame is described plainly: it must be fast.
ENROLMENT_JITTERS = 20


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


def load_rgb(source: Path | IO[bytes]) -> np.ndarray:
    """An image file (a path or open bytes) as RGB pixels."""
    with Image.open(source) as image:
        return np.asarray(image.convert("RGB"))


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


def _hog(image: np.ndarray, models: FaceModels, upsample: int) -> list[FaceBox]:
    rects, scores, _ = models.detector.run(image, upsample, 0.0)
    return [
        FaceBox(int(r.left()), int(r.top()), int(r.right()), int(r.bottom()), float(s))
        for r, s in zip(rects, scores, strict=True)
    ]


def _cnn(image: np.ndarray, models: FaceModels) -> list[FaceBox]:
    """CNN detections on a copy at most TINY_IMAGE_SIDE wide (bounded cost), boxes rescaled."""
    if models.cnn_detector is None:
        return []
    height, width = image.shape[:2]
    scale = min(1.0, TINY_IMAGE_SIDE / max(height, width))
    small = image
    if scale < 1.0:
        size = (round(width * scale), round(height * scale))
        small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
    return [
        FaceBox(
            max(0, round(d.rect.left() / scale)),
            max(0, round(d.rect.top() / scale)),
            min(width - 1, round(d.rect.right() / scale)),
            min(height - 1, round(d.rect.bottom() / scale)),
            float(d.confidence),
        )
        for d in models.cnn_detector(np.ascontiguousarray(small), 0)
    ]


def _primary_first(boxes: list[FaceBox], image: np.ndarray) -> list[FaceBox]:
    """The subject's face first: nearest the frame centre, in units of the face's width.

    A front camera frames the person holding it, so their face is large and central; a
    bystander's face is smaller or off to the side. Largest-first picked a bigger
    off-centre face on some photos.
    """
    height, width = image.shape[:2]

    def offset(box: FaceBox) -> float:
        dx = (box.left + box.right) / 2.0 - width / 2.0
        dy = (box.top + box.bottom) / 2.0 - height / 2.0
        return float(np.hypot(dx, dy)) / max(box.width, 1)

    return sorted(boxes, key=lambda b: (offset(b), -b.score))


def detect_faces(
    image: np.ndarray, *, models: FaceModels, upsample: int | None = None
) -> list[FaceBox]:
    """Detections, the subject's face first (see ``_primary_first``).

    HOG at the frame's own scale first. A small frame (<= SMALL_IMAGE_SIDE) with nothing
    found is retried with HOG upsampled once, a very small one (<= TINY_IMAGE_SIDE) twice,
    and finally with dlib's CNN (MMOD) detector on a copy at most TINY_IMAGE_SIDE wide,
    which finds faces HOG misses (turned, occluded, low contrast). A frame where none of
    them finds a face fails to acquire.
    """
    if upsample is not None:
        return _primary_first(_hog(image, models, upsample), image)
    longest = max(image.shape[:2])
    steps = [0]
    if longest <= SMALL_IMAGE_SIDE:
        steps.append(1)
    if longest <= TINY_IMAGE_SIDE:
        steps.append(2)
    for step in steps:
        boxes = _hog(image, models, step)
        if boxes:
            return _primary_first(boxes, image)
    return _primary_first(_cnn(image, models), image)


def shape_for(image: np.ndarray, box: FaceBox, *, predictor: object) -> dlib.full_object_detection:
    return predictor(image, box.rectangle())  # type: ignore[operator]


def landmark_array(shape: dlib.full_object_detection) -> np.ndarray:
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def face_chip(image: np.ndarray, shape: dlib.full_object_detection) -> np.ndarray:
    return np.asarray(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))


def describe_chip(
    chip: np.ndarray, *, models: FaceModels, jitters: int = DESCRIPTOR_JITTERS
) -> np.ndarray:
    """128-d descriptor of an aligned chip (``frames.describe_frame`` adds its mirror's)."""
    vector = models.encoder.compute_face_descriptor(np.ascontiguousarray(chip), jitters)
    return np.asarray(vector, dtype=np.float64)


def unit(vectors: np.ndarray) -> np.ndarray:
    """Descriptors scaled to length 1 (along the last axis).

    dlib's descriptors vary in length (about 1.2-1.7 on LFW) and the length carries
    little identity: comparing directions only separates people better (docs/biometrics.md,
    "Measured choices"). Stored descriptors stay as computed; comparisons scale them.
    """
    array = np.asarray(vectors, dtype=np.float64)
    return np.asarray(array / np.maximum(np.linalg.norm(array, axis=-1, keepdims=True), 1e-12))


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between two descriptors as every comparison measures it (unit length)."""
    return float(np.linalg.norm(unit(a) - unit(b)))
