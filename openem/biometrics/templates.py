"""A subject's template: 1-3 enrolment descriptors, compared with one probe at a time."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from openem.biometrics.embedding import unit
from openem.biometrics.model import MODEL_VERSION

Fusion = Literal["centroid", "min", "mean"]
DEFAULT_FUSION: Fusion = "mean"
MAX_ENROLMENT_IMAGES = 3


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class FaceTemplate:
    descriptors: np.ndarray
    model_version: str = MODEL_VERSION

    @property
    def centroid(self) -> np.ndarray:
        return np.asarray(self.descriptors.mean(axis=0))

    def to_bytes(self) -> bytes:
        """Serialised form for storage; the caller encrypts it at rest."""
        buffer = io.BytesIO()
        np.save(buffer, self.descriptors.astype(np.float64), allow_pickle=False)
        return self.model_version.encode() + b"\n" + buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> FaceTemplate:
        version, _, payload = data.partition(b"\n")
        descriptors = np.load(io.BytesIO(payload), allow_pickle=False)
        return cls(descriptors=descriptors, model_version=version.decode())


def build_template(
    *, descriptors: Sequence[np.ndarray], model_version: str = MODEL_VERSION
) -> FaceTemplate:
    """Template from 1-3 enrolment descriptors (from frames that passed the quality gate)."""
    if not 1 <= len(descriptors) <= MAX_ENROLMENT_IMAGES:
        raise TemplateError(f"a template needs 1 to {MAX_ENROLMENT_IMAGES} enrolment descriptors")
    stacked = np.stack([np.asarray(d, dtype=np.float64).reshape(-1) for d in descriptors])
    if stacked.shape[1] != 128:
        raise TemplateError("descriptors must be 128-dimensional")
    return FaceTemplate(descriptors=stacked, model_version=model_version)


def template_distance(
    template: FaceTemplate,
    probe_descriptors: Sequence[np.ndarray],
    *,
    fusion: Fusion = DEFAULT_FUSION,
) -> float:
    """Distance between one subject's template and the descriptors of one check-in burst.

    Descriptors are compared at unit length (``embedding.unit``); a template stored before
    that is compared the same way, so it needs no re-enrolment. The burst's frames are
    averaged first (less noise), except for ``min``: ``centroid`` compares that with the
    mean enrolment descriptor, ``mean`` averages its distances to each enrolment
    descriptor (so one unusual enrolment photo weighs a third, not all), ``min`` takes the
    closest enrolment-frame pair. With one frame, ``mean`` is the mean distance of the
    photo to the enrolment photos.
    """
    if not probe_descriptors:
        raise TemplateError("no probe descriptors")
    probes = unit(
        np.stack([np.asarray(d, dtype=np.float64).reshape(-1) for d in probe_descriptors])
    )
    enrolled = unit(template.descriptors)
    burst = unit(probes.mean(axis=0))
    if fusion == "centroid":
        return float(np.linalg.norm(unit(enrolled.mean(axis=0)) - burst))
    if fusion == "mean":
        return float(np.linalg.norm(enrolled - burst, axis=-1).mean())
    pairwise = np.linalg.norm(enrolled[:, None, :] - probes[None, :, :], axis=-1)
    return float(pairwise.min())
