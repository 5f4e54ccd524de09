"""Per-image work for evaluations, run in worker processes (one model set each)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from openem.biometrics import embedding
from openem.biometrics.frames import analyse_frame
from openem.biometrics.model import default_models
from openem.biometrics.pool import FacePool

CHUNK = 16
T = TypeVar("T")


@dataclass(frozen=True)
class Acquired:
    found: bool
    quality_ok: bool
    reasons: tuple[str, ...]
    plain: np.ndarray | None
    mirrored: np.ndarray | None


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def acquire_files(paths: list[Path]) -> list[Acquired]:
    models = default_models()
    results = []
    for path in paths:
        analysis = analyse_frame(load_rgb(path), models=models)
        mirrored = None
        if analysis.chip is not None and analysis.descriptor is not None:
            flipped = embedding.describe_chip(analysis.chip[:, ::-1], models=models)
            mirrored = (analysis.descriptor + flipped) / 2.0
        results.append(
            Acquired(
                found=analysis.descriptor is not None,
                quality_ok=analysis.quality.ok,
                reasons=analysis.quality.reasons,
                plain=analysis.descriptor,
                mirrored=mirrored,
            )
        )
    return results


def peer_encode_files(paths: list[Path]) -> list[np.ndarray | None]:
    """The peer library, face_recognition 1.3.0, with its defaults."""
    import face_recognition

    out: list[np.ndarray | None] = []
    for path in paths:
        encodings = face_recognition.face_encodings(face_recognition.load_image_file(str(path)))
        out.append(np.asarray(encodings[0]) if encodings else None)
    return out


def run_chunked(
    pool: FacePool, function: Callable[[list[Path]], list[T]], paths: Sequence[Path]
) -> list[T]:
    chunks = [list(paths[i : i + CHUNK]) for i in range(0, len(paths), CHUNK)]
    futures: list[Future[list[T]]] = [pool.submit(function, chunk) for chunk in chunks]
    results: list[T] = []
    for future in futures:
        results.extend(future.result())
    return results
