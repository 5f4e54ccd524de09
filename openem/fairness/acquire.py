"""Per-image work for evaluations, run in worker processes (one model set each)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from openem.biometrics.embedding import DESCRIPTOR_JITTERS, ENROLMENT_JITTERS, load_rgb
from openem.biometrics.frames import FrameAnalysis, analyse_frame, describe_frame
from openem.biometrics.model import default_models
from openem.biometrics.pool import FacePool
from openem.biometrics.quality import VERIFICATION_POLICY, judge_quality
from openem.fairness.cache import MISSING, DescriptorCache, file_key

CHUNK = 16
T = TypeVar("T")


@dataclass(frozen=True)
class Acquired:
    """One photo: found, its verdicts from the enrolment gate (``quality_ok``, ``reasons``)
    and from the check-in gate (``verification_ok``), and its descriptors: ``mirrored`` as
    a check-in frame is described, ``enrolled`` as an enrolment photo is (set only for the
    photos a protocol enrols with, see ``enrol_files``)."""

    found: bool
    quality_ok: bool
    reasons: tuple[str, ...]
    plain: np.ndarray | None
    mirrored: np.ndarray | None
    verification_ok: bool = True
    enrolled: np.ndarray | None = None


def _described(paths: list[Path], cache_dir: Path | None, jitters: int) -> Iterator[FrameAnalysis]:
    """Each photo analysed and described mirror-averaged, with ``jitters``."""
    models = default_models()
    describe = DescriptorCache(cache_dir).describer(models)
    for path in paths:
        yield describe_frame(
            analyse_frame(load_rgb(path), models=models, with_descriptor=False),
            models=models, mirror=True, describe=describe, jitters=jitters,
        )


def acquire_files(paths: list[Path], cache_dir: Path | None = None) -> list[Acquired]:
    """Photos described as a check-in's compared frame is."""
    return [
        Acquired(
            found=analysis.descriptor is not None,
            quality_ok=analysis.quality.ok,
            reasons=analysis.quality.reasons,
            plain=analysis.descriptor,
            mirrored=analysis.mirrored,
            verification_ok=judge_quality(analysis.quality.measures, VERIFICATION_POLICY).ok,
        )
        for analysis in _described(paths, cache_dir, DESCRIPTOR_JITTERS)
    ]


def enrol_files(
    paths: list[Path], cache_dir: Path | None = None, jitters: int = ENROLMENT_JITTERS
) -> list[np.ndarray | None]:
    """Photos described as ``enrolment.enrol_subject`` describes them."""
    return [analysis.mirrored for analysis in _described(paths, cache_dir, jitters)]


def _peer_encode(path: Path) -> np.ndarray:
    import face_recognition

    encodings = face_recognition.face_encodings(face_recognition.load_image_file(str(path)))
    return np.asarray(encodings[0]) if encodings else MISSING


def peer_encode_files(paths: list[Path], cache_dir: Path | None = None) -> list[np.ndarray | None]:
    """The peer library, face_recognition 1.3.0, with its defaults."""
    cache = DescriptorCache(cache_dir)
    out: list[np.ndarray | None] = []
    for path in paths:
        encoding = cache.get_or_compute(file_key(path), functools.partial(_peer_encode, path))
        out.append(encoding if encoding.size else None)
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
