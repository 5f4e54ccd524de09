"""Test images shipped in the face_recognition 1.3.0 sdist, fetched once into the venv.

``pip download`` puts the sdist in a cache under ``sys.prefix``; the images are
extracted there. Nothing is committed to the repository.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

SDIST = "face_recognition-1.3.0"
CACHE = Path(sys.prefix) / "openem-test-cache"
IMAGES = CACHE / SDIST / "tests" / "test_images"


def images_dir() -> Path:
    if not (IMAGES / "obama.jpg").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        archive = CACHE / f"{SDIST}.tar.gz"
        if not archive.exists():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "face_recognition==1.3.0",
                    "-d",
                    str(CACHE),
                ],
                check=True,
                capture_output=True,
            )
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if "/tests/test_images/" in m.name]
            tar.extractall(CACHE, members=members, filter="data")
    return IMAGES


def load(name: str) -> np.ndarray:
    with Image.open(images_dir() / name) as image:
        return np.asarray(image.convert("RGB"))
