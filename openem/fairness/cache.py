"""On-disk cache for evaluation descriptors, keyed by content so it cannot change results.

A chip's descriptor is a deterministic function of the chip's pixels, the model and the
jitter count, so it is keyed by a hash of exactly those. The peer library's encoding is
keyed by the image file's bytes and the library's version. Entries are .npy files written
atomically (several worker processes share a directory). Only descriptors are stored,
never images.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from openem.biometrics import embedding
from openem.biometrics.model import MODEL_VERSION, FaceModels

PEER_VERSION = "face_recognition-1.3.0-defaults"
MISSING = np.zeros(0)


def chip_key(chip: np.ndarray, *, jitters: int = embedding.DESCRIPTOR_JITTERS) -> str:
    digest = hashlib.sha256(f"{MODEL_VERSION}|{jitters}|{chip.shape}|{chip.dtype}".encode())
    digest.update(np.ascontiguousarray(chip).tobytes())
    return digest.hexdigest()


def file_key(path: Path, version: str = PEER_VERSION) -> str:
    digest = hashlib.sha256(version.encode())
    digest.update(path.read_bytes())
    return digest.hexdigest()


class DescriptorCache:
    """Get-or-compute by key; with no directory it only computes."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.npy"

    def get_or_compute(self, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        if self.directory is None:
            return compute()
        path = self._path(key)
        if path.exists():
            return np.asarray(np.load(path, allow_pickle=False))
        value = np.asarray(compute(), dtype=np.float64)
        path.parent.mkdir(exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            np.save(out, value, allow_pickle=False)
        os.replace(temporary, path)
        return value

    def describer(self, models: FaceModels) -> Callable[[np.ndarray, int], np.ndarray]:
        """A drop-in for ``embedding.describe_chip(chip, models=models, jitters=jitters)``."""

        def describe(chip: np.ndarray, jitters: int) -> np.ndarray:
            return self.get_or_compute(
                chip_key(chip, jitters=jitters),
                lambda: embedding.describe_chip(chip, models=models, jitters=jitters),
            )

        return describe
