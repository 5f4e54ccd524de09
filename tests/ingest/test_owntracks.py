"""OwnTracks HTTP mode: requests as the Android and iOS apps send them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from openem.ingest.items import parse_batch
from openem.ingest.protocols.owntracks import (
    OwnTracksRejected,
    decode_owntracks,
    owntracks_response,
)

# The payload from the OwnTracks booklet's Traccar page, with the fields the
# Android app adds (https://owntracks.org/booklet/tech/json/).
TST = 1497476456
ANDROID_BODY = json.dumps(
    {
        "_type": "location",
        "acc": 13,
        "alt": 38,
        "batt": 78,
        "bs": 2,
        "conn": "w",
        "created_at": TST + 2,
        "lat": 48.85833,
        "lon": 2.29513,
        "m": 1,
        "t": "u",
        "tid": "JJ",
        "tst": TST,
        "vac": 1,
        "vel": 36,
        "cog": 270,
    }
).encode()
AUTH = "Basic " + base64.b64encode(b"jane:s3cret").decode()
HEADERS = {
    "Content-Type": "application/json",
    "Authorization": AUTH,
    "X-Limit-U": "jane",
    "X-Limit-D": "phone",
    "User-Agent": "Owntracks-Android/2.4.12",
}


def test_location_becomes_a_position_and_a_battery_item() -> None:
    decoded = decode_owntracks(headers=HEADERS, body=ANDROID_BODY)
    assert (decoded.user, decoded.device, decoded.tracker_id) == ("jane", "phone", "JJ")
    assert decoded.credentials is not None
    assert (decoded.credentials.username, decoded.credentials.password) == ("jane", "s3cret")
    position, battery = decoded.items
    assert position == {
        "type": "position",
        "seq": TST * 4,
        "ts": "2017-06-14T21:40:56+00:00",
        "lat": 48.85833,
        "lon": 2.29513,
        "source": "gnss",
        "accuracy_m": 13.0,
        "altitude_m": 38.0,
        "speed_mps": pytest.approx(10.0),
        "heading_deg": 270.0,
    }
    assert battery == {
        "type": "battery",
        "seq": TST * 4 + 1,
        "ts": "2017-06-14T21:40:56+00:00",
        "level": 78,
        "charging": True,
    }


def test_decoded_items_are_valid_canonical_items() -> None:
    decoded = decode_owntracks(headers=HEADERS, body=ANDROID_BODY)
    parsed = parse_batch({"items": decoded.items}, now=datetime.fromtimestamp(TST + 30, tz=UTC))
    assert parsed.rejected == []
    assert [item.type for item in parsed.items] == ["position", "battery"]


def test_resent_location_produces_identical_items_so_it_dedupes() -> None:
    first = decode_owntracks(headers=HEADERS, body=ANDROID_BODY)
    again = decode_owntracks(headers=HEADERS, body=ANDROID_BODY)
    assert first.items == again.items


def test_minimal_ios_location_needs_only_lat_lon_tst() -> None:
    body = b'{"lon":2.29513,"lat":48.85833,"_type":"location","tst":1497476456,"tid":"JJ"}'
    decoded = decode_owntracks(headers={"Authorization": AUTH}, body=body)
    (position,) = decoded.items
    assert set(position) == {"type", "seq", "ts", "lat", "lon", "source"}
    assert decoded.user == "jane"  # falls back to the Basic auth user name
    assert decoded.device is None


@pytest.mark.parametrize(("bs", "charging"), [(0, False), (1, False), (2, True), (3, True)])
def test_battery_status_maps_to_charging(bs: int, charging: bool) -> None:
    body = json.dumps(
        {"_type": "location", "lat": 1.5, "lon": 1.5, "tst": TST, "batt": 50, "bs": bs}
    )
    battery = decode_owntracks(headers=HEADERS, body=body.encode()).items[1]
    assert battery["charging"] is charging


@pytest.mark.parametrize(
    "message",
    [
        {
            "_type": "transition",
            "event": "enter",
            "desc": "Home",
            "tst": TST,
            "wtst": TST,
            "acc": 10,
        },
        {"_type": "waypoint", "desc": "Home", "lat": 1.0, "lon": 1.0, "rad": 50, "tst": TST},
        {"_type": "lwt", "tst": TST},
        {"_type": "status", "android": {"hib": 1}},
        {"_type": "card", "name": "Jane"},
    ],
)
def test_other_message_types_are_ignored(message: dict[str, object]) -> None:
    decoded = decode_owntracks(headers=HEADERS, body=json.dumps(message).encode())
    assert decoded.items == []
    assert decoded.message_type == message["_type"]


def test_zero_length_payload_is_ignored() -> None:
    assert decode_owntracks(headers=HEADERS, body=b"").items == []


def test_user_and_device_may_come_from_the_url() -> None:
    decoded = decode_owntracks(headers={}, body=ANDROID_BODY, query="u=jane&d=watch")
    assert (decoded.user, decoded.device, decoded.credentials) == ("jane", "watch", None)


def test_response_body_is_an_empty_json_array() -> None:
    assert json.loads(owntracks_response()) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not_json"),
        (b"[1, 2]", "not_an_object"),
        (b'{"lat": 1}', "missing_type"),
        (b'{"_type": "location", "lat": 1.0, "tst": 1497476456}', "missing_field"),
        (b'{"_type": "location", "lat": NaN, "lon": 1.0, "tst": 1497476456}', "invalid_lat"),
        (b'{"_type": "location", "lat": true, "lon": 1.0, "tst": 1497476456}', "invalid_lat"),
    ],
)
def test_unusable_payloads_are_rejected_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(OwnTracksRejected) as excinfo:
        decode_owntracks(headers=HEADERS, body=body)
    assert excinfo.value.reason == reason


def test_malformed_basic_auth_is_treated_as_absent() -> None:
    decoded = decode_owntracks(headers={"Authorization": "Basic !!!"}, body=ANDROID_BODY)
    assert decoded.credentials is None


def test_credentials_are_not_shown_in_repr() -> None:
    decoded = decode_owntracks(headers=HEADERS, body=ANDROID_BODY)
    assert "s3cret" not in repr(decoded)
