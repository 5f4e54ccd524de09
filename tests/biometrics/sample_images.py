"""Test images shipped in the face_recognition 1.3.0 sdist, fetched once into the venv.

The fetch (``pip download`` of the sdist, then extracting its test images) is shared with
the demo: ``openem.sim.faces.fetch_sdist_images``. Tests cache it under ``sys.prefix``;
nothing is committed to the repository.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from openem.biometrics.embedding import load_rgb
from openem.sim.faces import fetch_sdist_images

CACHE = Path(sys.prefix) / "openem-test-cache"


def images_dir() -> Path:
    return fetch_sdist_images(CACHE)


def load(name: str) -> np.ndarray:
    return load_rgb(images_dir() / name)
