"""Face work run inside the FacePool's worker processes, and the app's lazy pool.

The functions here are top-level (picklable) and take and return plain bytes and dicts:
JPEG decoding, enrolment and verification all happen in a worker process, never in the
event loop nor in a request thread (dlib holds the GIL and is not thread-safe).
"""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from openem.biometrics.embedding import ENROLMENT_JITTERS
from openem.biometrics.enrolment import enrol_subject
from openem.biometrics.liveness import Challenge
from openem.biometrics.model import MODEL_VERSION
from openem.biometrics.pool import FacePool
from openem.biometrics.templates import FaceTemplate
from openem.biometrics.verify import verify_checkin

T = TypeVar("T")
JPEG_MAGIC = b"\xff\xd8\xff"
MAX_PIXELS = 40_000_000


class BadImage(ValueError):
    """An image that is not a decodable JPEG (the message names only its position)."""


def is_jpeg(data: bytes) -> bool:
    return data.startswith(JPEG_MAGIC)


def decode_jpeg(data: bytes, *, index: int) -> np.ndarray:
    if not is_jpeg(data):
        raise BadImage(f"frame {index} is not a JPEG")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format != "JPEG" or image.width * image.height > MAX_PIXELS:
                    raise BadImage(f"frame {index} is not a usable JPEG")
                return np.asarray(image.convert("RGB"))
    except (OSError, Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise BadImage(f"frame {index} could not be decoded as JPEG") from error


def enrol_jpegs(photos: list[bytes], jitters: int | None = None) -> dict[str, Any]:
    """Worker: template bytes (or None) and per-photo quality; raises BadImage.
    ``jitters``: per photo (``Settings.face_enrolment_jitters``; None: the model's default)."""
    images = [decode_jpeg(photo, index=i) for i, photo in enumerate(photos)]
    result = enrol_subject(
        images=images, jitters=ENROLMENT_JITTERS if jitters is None else jitters
    )
    return {
        "template": result.template.to_bytes() if result.template is not None else None,
        "quality": [q.as_dict() for q in result.quality],
        "model_version": MODEL_VERSION,
    }


def verify_jpegs(
    template: bytes, frames: list[bytes], challenge: str, threshold: float
) -> dict[str, Any]:
    """Worker: the decision of one attempt as a dict (CheckinDecision.as_dict())."""
    images = [decode_jpeg(frame, index=i) for i, frame in enumerate(frames)]
    decision = verify_checkin(
        template=FaceTemplate.from_bytes(template), frames=images,
        challenge=Challenge(challenge), threshold=threshold,
    )
    return decision.as_dict()


class LazyFacePool:
    """One FacePool per app process, started on first use (most processes never need it)."""

    def __init__(self, *, workers: int) -> None:
        self.workers = workers
        self._pool: FacePool | None = None

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            self._pool = FacePool(workers=self.workers)
        try:
            return await asyncio.wrap_future(self._pool.submit(function, *args))
        except BrokenExecutor:  # a worker died: start a fresh pool next time
            self.close()
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
