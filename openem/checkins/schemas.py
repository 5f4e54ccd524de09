"""API shapes of the check-in domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class EnrolmentOut(BaseModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    model_version: str
    photos: int
    quality: list[dict[str, Any]]
    created_at: datetime


class DecisionOut(BaseModel):
    id: uuid.UUID
    prompt_id: uuid.UUID
    attempt: int
    outcome: str
    score: float | None
    threshold: float
    model_version: str
    quality: list[dict[str, Any]]
    liveness: dict[str, Any] | None
    reasons: list[str]
    frames: int
    captured_at: datetime
    received_at: datetime
    prompt_status: str
    prompt_scheduled_at: datetime
    prompt_challenge: str


class DeviceAnswer(BaseModel):
    """What the watch is told: no score (it must not help an impostor tune attempts)."""

    decision_id: uuid.UUID
    attempt: int
    outcome: str
    reasons: list[str]
    prompt_status: str
    attempts_left: int
