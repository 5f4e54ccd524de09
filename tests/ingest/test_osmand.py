"""OsmAnd protocol: requests as Traccar Client sends them (query form and JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from openem.ingest.items import parse_batch
from openem.ingest.protocols.osmand import (
    KNOT_IN_MPS,
    OsmAndRejected,
    decode_osmand,
    parse_osmand_timestamp,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
TS = 1772366340  # 2026-03-01T11:59:00Z

# Traccar Client (Android, before 9.0): POST with the data in the query string.
QUERY = (
    f"id=123456&timestamp={TS}&lat=48.85833&lon=2.29513&speed=10.0&bearing=271.5"
    "&altitude=35.0&accuracy=12.0&batt=87.0&charge=true"
)
# Traccar Client 9: JSON body (https://www.traccar.org/osmand/).
JSON_BODY = json.dumps(
    {
        "location": {
            "timestamp": "2026-03-01T11:59:00.000Z",
            "coords": {
                "latitude": 48.85833,
                "longitude": 2.29513,
                "accuracy": 12.0,
                "speed": 5.0,
                "heading": 271.5,
                "altitude": 35.0,
            },
            "is_moving": True,
            "odometer": 1523.4,
            "event": "motionchange",
            "battery": {"level": 0.87, "is_charging": False},
            "activity": {"type": "walking"},
            "extras": {},
        },
        "device_id": "48241179",
    }
).encode()


def test_query_form_becomes_position_and_battery_with_speed_from_knots() -> None:
    decoded = decode_osmand(query=QUERY, headers={}, body=b"", now=NOW)
    assert decoded.device_id == "123456"
    assert decoded.time_from_server is False
    position, battery = decoded.items
    assert position == {
        "type": "position",
        "seq": TS * 4,
        "ts": "2026-03-01T11:59:00+00:00",
        "lat": 48.85833,
        "lon": 2.29513,
        "accuracy_m": 12.0,
        "speed_mps": pytest.approx(10.0 * KNOT_IN_MPS),
        "heading_deg": 271.5,
        "altitude_m": 35.0,
    }
    assert position["speed_mps"] == pytest.approx(5.144, abs=1e-3)
    assert battery == {
        "type": "battery",
        "seq": TS * 4 + 1,
        "ts": "2026-03-01T11:59:00+00:00",
        "level": 87,
        "charging": True,
    }


def test_form_encoded_body_is_read_when_the_query_is_empty() -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    decoded = decode_osmand(query="", headers=headers, body=QUERY.encode(), now=NOW)
    assert decoded.items == decode_osmand(query=QUERY, headers={}, body=b"", now=NOW).items


def test_traccar_client_9_json_body_is_decoded_with_speed_in_metres_per_second() -> None:
    headers = {"Content-Type": "application/json"}
    decoded = decode_osmand(query="", headers=headers, body=JSON_BODY, now=NOW)
    assert decoded.device_id == "48241179"
    position, battery = decoded.items
    assert position["speed_mps"] == 5.0
    assert position["seq"] == TS * 4
    assert position["ts"] == "2026-03-01T11:59:00+00:00"
    assert (battery["level"], battery["charging"]) == (87, False)


def test_json_unknown_values_of_minus_one_are_dropped() -> None:
    payload = json.loads(JSON_BODY)
    payload["location"]["coords"].update(speed=-1, heading=-1)
    payload["location"]["battery"]["level"] = -1
    decoded = decode_osmand(query="", headers={}, body=json.dumps(payload).encode(), now=NOW)
    (position,) = decoded.items
    assert "speed_mps" not in position and "heading_deg" not in position


def test_decoded_items_are_valid_canonical_items() -> None:
    for decoded in (
        decode_osmand(query=QUERY, headers={}, body=b"", now=NOW),
        decode_osmand(query="", headers={}, body=JSON_BODY, now=NOW),
    ):
        parsed = parse_batch({"items": decoded.items}, now=NOW)
        assert parsed.rejected == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1772366340", datetime(2026, 3, 1, 11, 59, tzinfo=UTC)),
        ("1772366340000", datetime(2026, 3, 1, 11, 59, tzinfo=UTC)),
        ("2026-03-01T11:59:00Z", datetime(2026, 3, 1, 11, 59, tzinfo=UTC)),
        ("2026-03-01T12:59:00+01:00", datetime(2026, 3, 1, 11, 59, tzinfo=UTC)),
        ("2026-03-01 11:59:00", datetime(2026, 3, 1, 11, 59, tzinfo=UTC)),
    ],
)
def test_timestamps_follow_traccars_rules(value: str, expected: datetime) -> None:
    assert parse_osmand_timestamp(value) == expected


def test_location_parameter_and_deviceid_alias_are_accepted() -> None:
    decoded = decode_osmand(
        query=f"deviceid=abc&location=48.85833,2.29513&timestamp={TS}",
        headers={},
        body=b"",
        now=NOW,
    )
    assert decoded.device_id == "abc"
    assert (decoded.items[0]["lat"], decoded.items[0]["lon"]) == (48.85833, 2.29513)


def test_invalid_fix_still_reports_battery_but_no_position() -> None:
    decoded = decode_osmand(
        query=f"id=1&timestamp={TS}&lat=0&lon=0&valid=false&batt=40", headers={}, body=b"", now=NOW
    )
    assert [item["type"] for item in decoded.items] == ["battery"]


def test_request_without_fix_or_battery_is_a_heartbeat() -> None:
    decoded = decode_osmand(query=f"id=1&timestamp={TS}", headers={}, body=b"", now=NOW)
    assert decoded.items == [
        {"type": "heartbeat", "seq": TS * 4 + 2, "ts": "2026-03-01T11:59:00+00:00"}
    ]


def test_missing_timestamp_falls_back_to_server_time_and_says_so() -> None:
    decoded = decode_osmand(query="id=1&lat=1.5&lon=1.5", headers={}, body=b"", now=NOW)
    assert decoded.time_from_server is True
    assert decoded.items[0]["seq"] == int(NOW.timestamp()) * 4


@pytest.mark.parametrize(
    ("query", "body", "reason"),
    [
        ("lat=1&lon=1", b"", "missing_device_id"),
        ("id=1&timestamp=yesterday", b"", "invalid_timestamp"),
        ("id=1&lat=north&lon=1", b"", "invalid_lat"),
        ("id=1&lat=nan&lon=1", b"", "invalid_lat"),
        ("id=1&location=1", b"", "invalid_location"),
        ("", b"{broken", "not_json"),
        ("", b'{"device_id": "1"}', "missing_location"),
        ("", b'{"location": {}}', "missing_device_id"),
        ("", b"[]", "not_an_object"),
    ],
)
def test_unusable_requests_are_rejected_with_a_reason(query: str, body: bytes, reason: str) -> None:
    headers = {"Content-Type": "application/json"} if body else {}
    with pytest.raises(OsmAndRejected) as excinfo:
        decode_osmand(query=query, headers=headers, body=body, now=NOW)
    assert excinfo.value.reason == reason


def test_batched_json_locations_are_all_decoded_in_time_order() -> None:
    payload = json.loads(JSON_BODY)
    later = json.loads(json.dumps(payload["location"]))
    later["timestamp"] = "2026-03-01T11:59:30.000Z"
    payload["location"] = [later, payload["location"]]
    decoded = decode_osmand(query="", headers={}, body=json.dumps(payload).encode(), now=NOW)
    assert [item["seq"] for item in decoded.items] == [
        TS * 4,
        TS * 4 + 1,
        (TS + 30) * 4,
        (TS + 30) * 4 + 1,
    ]
    assert parse_batch({"items": decoded.items}, now=NOW).rejected == []


def test_empty_location_list_is_rejected() -> None:
    body = b'{"device_id": "1", "location": []}'
    with pytest.raises(OsmAndRejected) as excinfo:
        decode_osmand(query="", headers={}, body=body, now=NOW)
    assert excinfo.value.reason == "missing_location"
