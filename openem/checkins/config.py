"""The check-in settings the services need, as one value (tests build it directly)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from openem.biometrics.threshold import DEFAULT_THRESHOLD
from openem.config import Settings


@dataclass(frozen=True)
class CheckinConfig:
    spacing_minutes: int = 90
    response_minutes: int = 15
    late_upload: timedelta = timedelta(hours=24)
    threshold: float = DEFAULT_THRESHOLD

    @classmethod
    def from_settings(cls, settings: Settings) -> CheckinConfig:
        return cls(
            spacing_minutes=settings.checkin_spacing_minutes,
            response_minutes=settings.checkin_response_minutes,
            late_upload=timedelta(hours=settings.checkin_late_upload_hours),
            threshold=settings.face_threshold or DEFAULT_THRESHOLD,
        )
