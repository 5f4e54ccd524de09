"""The body limits of the check-in paths: bursts and enrolment photos, nothing else."""

from __future__ import annotations

from openem.checkins import api
from openem.http.limits import BodySizeLimit


def _limits() -> BodySizeLimit:
    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("not called")

    return BodySizeLimit(app, default_limit=1024 * 1024, limits={
        api.CHECKIN_PATH: api.CHECKIN_BODY_LIMIT,
        api.ENROLMENT_PATH: api.ENROLMENT_BODY_LIMIT,
    })


def test_a_burst_of_eight_one_mebibyte_frames_fits_its_path_limit() -> None:
    limits = _limits()
    assert limits._limit_for("/device/v1/checkins/0b1c") == api.CHECKIN_BODY_LIMIT
    assert api.CHECKIN_BODY_LIMIT >= 8 * 1024 * 1024 * 4 // 3  # base64 in JSON


def test_the_enrolment_limit_applies_to_enrolment_only() -> None:
    limits = _limits()
    assert limits._limit_for("/api/v1/subjects/1234/enrolment") == api.ENROLMENT_BODY_LIMIT
    assert limits._limit_for("/api/v1/subjects/1234") == 1024 * 1024
    assert limits._limit_for("/device/v1/telemetry") == 1024 * 1024
