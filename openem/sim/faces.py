"""Faces for the demo's check-ins: the photos a demo wearer is enrolled with, and the bursts
their simulated watch captures when a prompt arrives.

Where the faces come from, in order:

1. the face-verification evaluation set beside the checkout (``../shared/faces/images``),
   when present: the first few identities (sorted) with at least three photos;
2. otherwise the sample images shipped in the face_recognition 1.3.0 sdist, fetched with
   ``pip download`` (PyPI only) into a cache under ``OPENEM_DATA_DIR`` (never committed).

Faces are known only as "demo face 1..n": identity names (folder and file names) are
never shown or logged. Nothing here is copied into the repository or the database other
than through the normal, encrypted enrolment.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

SDIST = "face_recognition-1.3.0"
SDIST_IMAGES = Path(SDIST) / "tests" / "test_images"
# Two people in the sdist: (enrolment photos, the photo the watch "sees").
SDIST_FACES = ((("obama2.jpg", "obama3.jpg"), "obama.jpg"), (("biden.jpg",), "biden.jpg"))
SHARED_FACES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "faces" / "images"
SHARED_FACE_COUNT = 4
MIN_SHARED_PHOTOS = 3
PORTRAIT_SIDE = 480
TURN_DEGREES = (30.0, 25.0, 35.0)  # per attempt: a wearer asked again turns a bit differently


@dataclass(frozen=True)
class DemoFace:
    """One person's photos; ``repr`` shows only the label (paths carry names)."""

    label: str
    enrol: tuple[Path, ...] = field(repr=False)
    probes: tuple[Path, ...] = field(repr=False)  # for bursts, in order of preference

    def enrolment_photos(self) -> list[bytes]:
        return [path.read_bytes() for path in self.enrol]


def fetch_sdist_images(cache: Path) -> Path:
    """The sdist's ``tests/test_images`` folder, downloaded and extracted once into ``cache``."""
    images = cache / SDIST_IMAGES
    if (images / "obama.jpg").exists():
        return images
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / f"{SDIST}.tar.gz"
    if not archive.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "face_recognition==1.3.0", "-d", str(cache)],
            check=True, capture_output=True,
        )
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/tests/test_images/" in m.name]
        tar.extractall(cache, members=members, filter="data")
    return images


def _shared_faces(root: Path, count: int) -> list[DemoFace]:
    faces: list[DemoFace] = []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) < MIN_SHARED_PHOTOS:
            continue
        enrol, others = tuple(photos[:2]), tuple(photos[2:])
        faces.append(DemoFace(f"demo face {len(faces) + 1}", enrol, others + enrol))
        if len(faces) == count:
            break
    return faces


def demo_faces(data_dir: Path, *, shared: Path = SHARED_FACES_DIR) -> list[DemoFace]:
    """The demo's faces, always in the same order on one machine (seeding and the simulator
    must agree on who is who)."""
    if shared.is_dir():
        faces = _shared_faces(shared, SHARED_FACE_COUNT)
        if len(faces) >= 2:
            return faces
    images = fetch_sdist_images(Path(data_dir) / "demo-faces-cache")
    return [
        DemoFace(f"demo face {i + 1}", tuple(images / n for n in enrol), (images / probe,))
        for i, (enrol, probe) in enumerate(SDIST_FACES)
    ]


def jpeg(image: np.ndarray, *, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class BurstMaker:
    """Simulated check-in bursts (``simulated_turn``) of each face.

    A capture app guides the wearer until the requested motion shows; the simulated wearer
    does the same by choosing, per face and challenge, the probe photo (most frontal first)
    whose simulated motion passes the liveness check at every attempt's angle. The depth
    map behind ``simulated_turn`` is rough: from a photo already turned a little, a turn one
    way can leave the estimated pose almost unchanged, and the demo's check-ins would then
    fail liveness instead of showing a match or a no-match.

    dlib is not thread-safe: one burst at a time (a lock), so callers may use threads."""

    def __init__(
        self,
        faces: list[DemoFace],
        *,
        shows_motion: Callable[[_Portrait, str], bool] | None = None,
    ) -> None:
        self.faces = faces
        self._shows_motion = shows_motion or _passes_liveness
        self._lock = threading.Lock()
        self._candidates: dict[int, list[_Portrait]] = {}
        self._chosen: dict[tuple[int, str], _Portrait] = {}

    def _portraits(self, index: int) -> list[_Portrait]:
        """The face's usable probe photos, the one facing the camera most squarely first."""
        if index not in self._candidates:
            found = (_portrait_of(path) for path in self.faces[index].probes)
            candidates = sorted((p for p in found if p is not None), key=lambda p: p.turn)
            if not candidates:
                raise ValueError(f"{self.faces[index].label}: no usable probe photo")
            self._candidates[index] = candidates
        return self._candidates[index]

    def _portrait(self, index: int, challenge: str) -> _Portrait:
        if (index, challenge) not in self._chosen:
            candidates = self._portraits(index)
            shown = (p for p in candidates if self._shows_motion(p, challenge))
            self._chosen[(index, challenge)] = next(shown, candidates[0])
        return self._chosen[(index, challenge)]

    def burst(self, index: int, challenge: str, *, attempt: int = 0, seed: int = 0) -> list[bytes]:
        """JPEG frames of face ``index`` following ``challenge`` (turn_left, turn_right, nod);
        each ``attempt`` turns by a different angle."""
        with self._lock:
            portrait = self._portrait(index, challenge)
            degrees = TURN_DEGREES[attempt % len(TURN_DEGREES)]
            return [jpeg(frame) for frame in _frames(portrait, challenge, degrees, seed)]


@dataclass(frozen=True)
class _Portrait:
    image: np.ndarray
    landmarks: np.ndarray
    turn: float  # |yaw| of the face in it


def _frames(portrait: _Portrait, challenge: str, degrees: float, seed: int) -> list[np.ndarray]:
    from openem.biometrics.liveness import Challenge
    from openem.biometrics.synthetic import simulated_turn

    return simulated_turn(
        portrait.image, landmarks=portrait.landmarks, challenge=Challenge(challenge),
        degrees=degrees, seed=seed,
    )


def _passes_liveness(portrait: _Portrait, challenge: str) -> bool:
    """Whether bursts from this photo pass the liveness check at every attempt's angle."""
    from openem.biometrics.embedding import load_rgb
    from openem.biometrics.frames import analyse_frame
    from openem.biometrics.liveness import Challenge, check_liveness
    from openem.biometrics.model import load_models
    from openem.biometrics.quality import VERIFICATION_POLICY

    models = load_models()
    for degrees in TURN_DEGREES:
        sent = [jpeg(frame) for frame in _frames(portrait, challenge, degrees, seed=0)]
        frames = [load_rgb(io.BytesIO(data)) for data in sent]
        analyses = [analyse_frame(f, models=models, policy=VERIFICATION_POLICY) for f in frames]
        if not check_liveness(challenge=Challenge(challenge), frames=analyses).ok:
            return False
    return True


def _portrait_of(path: Path) -> _Portrait | None:
    """A head-and-shoulders crop around the largest face, and its landmarks (or None)."""
    from openem.biometrics.embedding import detect_faces, load_rgb, prepare_image
    from openem.biometrics.frames import analyse_frame
    from openem.biometrics.model import load_models

    models = load_models()
    image = prepare_image(load_rgb(path))
    boxes = detect_faces(image, models=models)
    if not boxes:
        return None
    box = boxes[0]
    cx, cy, half = (box.left + box.right) // 2, (box.top + box.bottom) // 2, box.width
    portrait = image[max(cy - half, 0): cy + half, max(cx - half, 0): cx + half]
    scale = PORTRAIT_SIDE / max(portrait.shape[:2])
    if scale > 1:  # small photos (250 px) show too little parallax for the liveness check
        size = (round(portrait.shape[1] * scale), round(portrait.shape[0] * scale))
        portrait = np.asarray(Image.fromarray(portrait).resize(size, Image.Resampling.BICUBIC))
    portrait = np.ascontiguousarray(portrait)
    analysis = analyse_frame(portrait, models=models, with_descriptor=False)
    if analysis.landmarks is None or analysis.pose is None:
        return None
    return _Portrait(portrait, analysis.landmarks, abs(analysis.pose.yaw))
