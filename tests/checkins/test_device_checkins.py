"""End to end through the signed device route, with real faces and real dlib: enrolment,
a genuine burst passing, an impostor failing after three attempts, and the evidence."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openem.alerts.models import Alert
from openem.bus.outbox import OutboxMessage
from openem.checkins.models import CheckinDecision, FaceEnrolment
from openem.config import Settings
from openem.crypto import store
from openem.crypto.envelope import EnvelopeError, generate_keyring
from tests.checkins.conftest import Checkin, enrol, open_prompt, photo
from tests.conftest import bearer

Bursts = dict[tuple[str, str], list[bytes]]


def _events(client: TestClient, sessions: sessionmaker[Session], checkin: Checkin) -> list[str]:
    """Outcomes published for the subject: still in the outbox, or relayed to the bus."""
    subject = f"openem.checkins.{checkin.subject_id}"
    with sessions() as session:
        rows = list(session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.subject == subject)))
    relayed = [m.data for m in client.app.state.bus.log if m.subject == subject]  # type: ignore[attr-defined]
    unique = dict.fromkeys(relayed + rows)  # a row may be relayed while we read both
    return [json.loads(r)["outcome"] for r in unique]


def _alert_types(sessions: sessionmaker[Session], checkin: Checkin) -> set[str]:
    """The alerts the app's rules worker raised from the outcomes (waits up to 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        with sessions() as session:
            types = set(session.scalars(
                select(Alert.type).where(Alert.subject_id == checkin.subject_id)))
        if types or time.monotonic() > deadline:
            return types
        time.sleep(0.1)


def _enrolled(app_client: TestClient, sessions: sessionmaker[Session],
              staff_tokens: dict[str, str]) -> Checkin:
    checkin = open_prompt(app_client, sessions, staff_tokens)
    response = enrol(app_client, staff_tokens["supervisor"], checkin.subject_id,
                     [photo("obama2.jpg"), photo("obama3.jpg")])
    assert response.status_code == 201, response.text
    assert response.json()["photos"] == 2
    return checkin


def test_a_genuine_burst_passes_and_the_case_worker_sees_the_evidence(
    app_client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str],
    bursts: Bursts, settings: Settings,
) -> None:
    checkin = _enrolled(app_client, sessions, staff_tokens)
    response = checkin.post(frames=bursts[("obama", checkin.challenge)])
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert (answer["outcome"], answer["prompt_status"]) == ("match", "passed")
    assert "score" not in answer  # the watch is not told how close it came
    assert _events(app_client, sessions, checkin) == ["passed"]

    listed = app_client.get(f"/api/v1/subjects/{checkin.subject_id}/checkins",
                            headers=bearer(staff_tokens["supervisor"]))
    assert listed.status_code == 200
    decision = listed.json()[0]
    assert decision["score"] <= decision["threshold"]
    assert decision["model_version"] and decision["liveness"]["ok"]
    assert len(decision["quality"]) == decision["frames"] == 3
    url = f"/api/v1/checkins/{decision['id']}/frames/0"
    assert app_client.get(url, headers=bearer(staff_tokens["supervisor"])).status_code == 422
    frame = app_client.get(url + "?purpose=welfare_concern",
                           headers=bearer(staff_tokens["supervisor"])
                           | {"X-Purpose-Detail": "wearer reported unwell at the check-in"})
    assert frame.status_code == 200, frame.text
    assert frame.content == bursts[("obama", checkin.challenge)][0]
    enrolment_photo = app_client.get(
        f"/api/v1/subjects/{checkin.subject_id}/enrolment/photos/1?purpose=welfare_concern",
        headers=bearer(staff_tokens["supervisor"]) | {"X-Purpose-Detail": "identity query"},
    )
    assert enrolment_photo.status_code == 200, enrolment_photo.text
    assert enrolment_photo.content == photo("obama3.jpg")


def test_an_impostor_fails_after_three_attempts_and_a_fourth_is_refused(
    app_client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str],
    bursts: Bursts,
) -> None:
    checkin = _enrolled(app_client, sessions, staff_tokens)
    frames = bursts[("biden", checkin.challenge)]
    answers = [checkin.post(frames=frames, as_json=True) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200], answers[-1].text
    assert {a.json()["outcome"] for a in answers} <= {"no_match", "liveness_failed"}
    assert [a.json()["prompt_status"] for a in answers] == ["issued", "issued", "failed"]
    assert _events(app_client, sessions, checkin) == ["failed"]
    assert "checkin_failed" in _alert_types(sessions, checkin)
    fourth = checkin.post(frames=frames)
    assert fourth.status_code == 409
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(CheckinDecision)) == 3


def test_templates_and_photos_are_unreadable_without_the_key(
    app_client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str],
    settings: Settings,
) -> None:
    checkin = _enrolled(app_client, sessions, staff_tokens)
    original = photo("obama2.jpg")
    with sessions() as session:
        enrolment = session.scalars(select(FaceEnrolment)).one()
        records = store.for_subject(session, subject_id=checkin.subject_id)
    assert {r.media_type for r in records} == {"image/jpeg", "application/vnd.openem.face-template"}
    assert enrolment.template_blob_id in {r.id for r in records}
    for record in records:
        ciphertext = store.blob_path(settings.data_dir, record.id).read_bytes()
        assert not ciphertext.startswith(b"\xff\xd8") and original[:4096] not in ciphertext
        try:
            store.read(record, keyring=generate_keyring(), data_dir=settings.data_dir)
        except EnvelopeError:
            continue
        raise AssertionError("a blob opened with another key")


def test_the_quality_gate_refuses_a_photo_without_a_face_and_says_why(
    app_client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str],
) -> None:
    import io

    import numpy as np
    from PIL import Image

    checkin = open_prompt(app_client, sessions, staff_tokens)
    grey = io.BytesIO()
    Image.fromarray(np.full((400, 400, 3), 128, np.uint8)).save(grey, format="JPEG")
    response = enrol(app_client, staff_tokens["supervisor"], checkin.subject_id,
                     [photo("obama2.jpg"), grey.getvalue()])
    assert response.status_code == 422
    assert response.json()["reasons"][1] == ["no_face"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(FaceEnrolment)) == 0
        assert session.scalar(select(func.count()).select_from(store.BlobRecord)) == 0


def test_bad_answers_get_clear_errors_and_store_nothing(
    app_client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str],
    bursts: Bursts,
) -> None:
    checkin = _enrolled(app_client, sessions, staff_tokens)
    good = bursts[("obama", checkin.challenge)]
    too_big = b"\xff\xd8\xff" + b"\0" * (1024 * 1024)
    cases: list[tuple[list[bytes], dict[str, datetime], int]] = [
        (good[:2], {}, 422),
        (good * 3, {}, 422),
        ([*good[:2], too_big], {}, 413),
        ([*good[:2], b"GIF89a not a jpeg"], {}, 422),
        (good, {"captured_at": checkin.expires_at.replace(year=checkin.expires_at.year + 1)},
         422),
        (good, {"captured_at": datetime(2020, 1, 1, tzinfo=UTC)}, 409),
    ]
    for frames, extra, status in cases:
        response = checkin.post(frames=frames, captured_at=extra.get("captured_at"))
        assert response.status_code == status, (status, response.text)
        assert response.json()["detail"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(CheckinDecision)) == 0
        blobs = store.for_subject(session, subject_id=checkin.subject_id,
                                  data_classes=("checkin_frames",))
        assert blobs == []


def test_the_purge_shreds_frames_photos_and_template_and_deletes_the_check_in_rows(
    app_client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str],
    bursts: Bursts, settings: Settings,
) -> None:
    from openem.checkins.models import CheckinPrompt
    from openem.retention.purge import purgers_for
    from openem.retention.registry import PurgeScope
    from openem.retention.sar import exporters

    checkin = _enrolled(app_client, sessions, staff_tokens)
    assert checkin.post(frames=bursts[("obama", checkin.challenge)]).status_code == 200
    with sessions() as session:
        section = dict(exporters())["checkin_decisions"](session, _export_scope(checkin, settings))
        assert {r["record"] for r in section.records} == {"prompt", "decision"}
        files = [store.blob_path(settings.data_dir, r.id)
                 for r in store.for_subject(session, subject_id=checkin.subject_id)]
    assert len(files) == 3 + 3  # two photos and a template, three frames
    now = datetime.now(UTC)
    scope = PurgeScope(data_class="", subject_ids=[checkin.subject_id], cutoff=now, now=now,
                       data_dir=settings.data_dir, batch_size=2)
    with sessions() as session, session.begin():
        for data_class in ("enrolment_media", "checkin_frames", "checkin_decisions"):
            for _name, purger in purgers_for(data_class):
                purger(session, scope)
    with sessions() as session:
        for model in (FaceEnrolment, CheckinDecision, CheckinPrompt, store.BlobRecord):
            assert session.scalar(select(func.count()).select_from(model)) == 0
    assert not any(path.exists() for path in files)


def _export_scope(checkin: Checkin, settings: Settings) -> Any:
    from openem.retention.registry import ExportScope

    return ExportScope(subject_id=checkin.subject_id, now=datetime.now(UTC),
                       data_dir=settings.data_dir, keyring=None)


def test_a_capture_made_inside_the_window_is_accepted_late_but_one_made_after_is_not(
    app_client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str],
    bursts: Bursts,
) -> None:
    checkin = open_prompt(app_client, sessions, staff_tokens, minutes_ago=30)  # closed 15 min ago
    enrolled = enrol(app_client, staff_tokens["supervisor"], checkin.subject_id,
                     [photo("obama2.jpg"), photo("obama3.jpg")])
    assert enrolled.status_code == 201
    frames = bursts[("obama", checkin.challenge)]
    after = checkin.post(frames=frames, captured_at=datetime.now(UTC))
    assert after.status_code == 409, after.text
    late = checkin.post(frames=frames, captured_at=checkin.expires_at - timedelta(minutes=2))
    assert late.status_code == 200, late.text
    assert late.json()["prompt_status"] == "passed"


def test_a_replayed_request_an_unknown_prompt_and_another_devices_prompt_are_refused(
    app_client: TestClient, sessions: sessionmaker[Session], staff_tokens: dict[str, str],
    bursts: Bursts,
) -> None:
    import uuid

    checkin = open_prompt(app_client, sessions, staff_tokens)
    other = open_prompt(app_client, sessions, staff_tokens)
    frames = bursts[("obama", checkin.challenge)]  # refused before any face work
    path = f"/device/v1/checkins/{checkin.prompt_id}"
    body = json.dumps({"captured_at": datetime.now(UTC).isoformat(), "frames": []}).encode()
    headers = checkin.device.signer.sign("POST", path, body) | {"content-type": "application/json"}
    assert app_client.post(path, content=body, headers=headers).status_code == 422
    replayed = app_client.post(path, content=body, headers=headers)
    assert replayed.status_code == 401 and "replayed" in replayed.json()["detail"]
    assert checkin.post(frames=frames, prompt_id=uuid.uuid4()).status_code == 404
    assert checkin.post(frames=frames, prompt_id=other.prompt_id).status_code == 404
