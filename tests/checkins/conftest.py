"""Check-in fixtures: a shared face pool, real sample faces as JPEG bursts, and a wearer
with an enrolment-ready subject, a paired smartwatch and one open prompt."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.principal import SYSTEM
from openem.biometrics.embedding import prepare_image
from openem.biometrics.frames import analyse_frame
from openem.biometrics.liveness import Challenge
from openem.biometrics.model import load_models
from openem.biometrics.synthetic import simulated_turn
from openem.checkins import service
from openem.checkins.config import CheckinConfig
from openem.checkins.faces import LazyFacePool
from openem.checkins.models import CheckinPrompt
from openem.db.session import transaction
from openem.devices import service as devices_service
from openem.subjects.models import Order, Subject
from tests.biometrics import sample_images
from tests.support import devices, factories


class SharedPool(LazyFacePool):
    """One pool for the whole session: apps closing it at shutdown leave it running."""

    def close(self) -> None:
        pass

    def shutdown(self) -> None:
        LazyFacePool.close(self)


@pytest.fixture(scope="session")
def shared_pool() -> Iterator[SharedPool]:
    pool = SharedPool(workers=1)
    yield pool
    pool.shutdown()


@pytest.fixture
def app_client(client: TestClient, shared_pool: SharedPool) -> TestClient:
    client.app.state.face_pool = shared_pool  # type: ignore[attr-defined]
    return client


def jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def photo(name: str) -> bytes:
    return (sample_images.images_dir() / name).read_bytes()


def _portrait(image: np.ndarray) -> np.ndarray:
    from openem.biometrics.embedding import detect_faces

    box = detect_faces(image, models=load_models())[0]
    cx, cy, half = (box.left + box.right) // 2, (box.top + box.bottom) // 2, box.width
    return np.ascontiguousarray(image[max(cy - half, 0): cy + half, max(cx - half, 0): cx + half])


@pytest.fixture(scope="session")
def bursts() -> dict[tuple[str, str], list[bytes]]:
    """(person, challenge) -> a simulated burst as JPEG frames (3 frames)."""
    out: dict[tuple[str, str], list[bytes]] = {}
    for person in ("obama", "biden"):
        portrait = _portrait(prepare_image(sample_images.load(f"{person}.jpg")))
        landmarks = analyse_frame(portrait, models=load_models()).landmarks
        assert landmarks is not None
        for challenge in Challenge:
            frames = simulated_turn(portrait, landmarks=landmarks, challenge=challenge)
            out[(person, challenge.value)] = [jpeg(f) for f in frames]
    return out


@dataclass
class Checkin:
    client: TestClient
    sessions: sessionmaker[Session]
    device: devices.TestDevice
    subject_id: uuid.UUID
    prompt_id: uuid.UUID
    challenge: str
    expires_at: datetime

    def post(self, *, frames: list[bytes], captured_at: datetime | None = None,
             as_json: bool = False, prompt_id: uuid.UUID | None = None) -> httpx.Response:
        path = f"/device/v1/checkins/{prompt_id or self.prompt_id}"
        meta = {"captured_at": (captured_at or datetime.now(UTC)).isoformat(),
                "fix": {"lat": 51.5, "lon": -0.12, "accuracy_m": 9.0}}
        if as_json:
            import base64
            import json

            body = json.dumps(meta | {"frames": [base64.b64encode(f).decode() for f in frames]})
            request = httpx.Request("POST", "http://t" + path, content=body.encode(),
                                    headers={"content-type": "application/json"})
        else:
            import json

            request = httpx.Request(
                "POST", "http://t" + path, data={"metadata": json.dumps(meta)},
                files=[("frames", (f"f{i}.jpg", f, "image/jpeg")) for i, f in enumerate(frames)],
            )
        body_bytes = request.read()
        headers = self.device.signer.sign("POST", path, body_bytes)
        headers["content-type"] = request.headers["content-type"]
        return self.client.post(path, content=body_bytes, headers=headers)


def _midday_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about midday now, so the window never wraps."""
    offset = max(-12, min(14, 12 - now.hour))
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


def open_prompt(client: TestClient, sessions: sessionmaker[Session],
                tokens: dict[str, str], *, minutes_ago: int = 5) -> Checkin:
    """A subject whose smartwatch got one prompt ``minutes_ago`` (window of 15 minutes)."""
    now = datetime.now(UTC)
    zone = _midday_zone(now)
    local = now.astimezone(ZoneInfo(zone)).replace(second=0, microsecond=0)
    start = local - timedelta(minutes=minutes_ago)
    device = devices.pair(client, tokens["admin"])
    with transaction(sessions) as session:
        subject = factories.subject(session, timezone=zone)
        order = factories.order(
            session, subject.id, checkins_per_day=1,
            starts_at=(now - timedelta(hours=1)).isoformat(),
            waking_window_start=start.time().isoformat(),
            waking_window_end=(start + timedelta(minutes=15)).time().isoformat(),
        )
        devices_service.assign_device(session, principal=SYSTEM,
                                      device_id=uuid.UUID(device.device_id), order_id=order.id,
                                      now=now)
        order_id, subject_id = order.id, subject.id
    with transaction(sessions) as session:
        order_row, subject_row = session.get(Order, order_id), session.get(Subject, subject_id)
        assert order_row is not None and subject_row is not None
        service.plan_day(session, order=order_row, subject=subject_row, day=start.date(),
                         now=start.astimezone(UTC) - timedelta(minutes=1), config=CheckinConfig())
        issue_at = min(now, start.astimezone(UTC) + timedelta(minutes=1))
        assert service.issue_due(session, now=issue_at) == 1
    with sessions() as session:
        prompt = session.scalars(
            select(CheckinPrompt).where(CheckinPrompt.subject_id == subject_id)
        ).one()
        return Checkin(client, sessions, device, subject_id, prompt.id, prompt.challenge,
                       prompt.expires_at)


def enrol(client: TestClient, token: str, subject_id: uuid.UUID,
          photos: list[bytes]) -> httpx.Response:
    return client.post(
        f"/api/v1/subjects/{subject_id}/enrolment",
        files=[("photos", (f"p{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos)],
        headers={"Authorization": f"Bearer {token}"},
    )
