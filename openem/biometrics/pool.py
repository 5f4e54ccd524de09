"""A process pool for face work: one model set per worker process, loaded once.

dlib holds the GIL in the shape predictor and the descriptor and its objects are not
thread-safe, so threads would not help; processes do.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

import numpy as np

from openem.biometrics.liveness import Challenge
from openem.biometrics.model import default_models
from openem.biometrics.templates import FaceTemplate
from openem.biometrics.threshold import DEFAULT_THRESHOLD
from openem.biometrics.verify import CheckinDecision, verify_checkin

T = TypeVar("T")


def _warm_up() -> None:
    default_models()


def _verify(
    template: FaceTemplate,
    frames: Sequence[np.ndarray],
    challenge: Challenge | None,
    threshold: float,
) -> CheckinDecision:
    return verify_checkin(
        template=template, frames=frames, challenge=challenge, threshold=threshold
    )


class FacePool:
    """Submit check-ins (or any picklable face work); results come back as futures."""

    def __init__(self, *, workers: int = 2) -> None:
        context = multiprocessing.get_context("spawn")
        self._executor = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_warm_up
        )

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        return self._executor.submit(function, *args)

    def verify_checkin(
        self,
        *,
        template: FaceTemplate,
        frames: Sequence[np.ndarray],
        challenge: Challenge | None,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> Future[CheckinDecision]:
        return self._executor.submit(_verify, template, list(frames), challenge, threshold)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FacePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
