"""OsmAnd protocol (as sent by Traccar Client) -> canonical telemetry items.

Two forms, both documented at https://www.traccar.org/osmand/ and decoded by
Traccar's ``OsmAndProtocolDecoder.java`` (traccar/traccar,
src/main/java/org/traccar/protocol/):

1. Query or form parameters (``GET /?id=...&lat=...`` or a POST with an
   ``application/x-www-form-urlencoded`` body, read when the query is empty):
   ``id`` or ``deviceid``; ``lat``/``lon`` or ``location=lat,lon``;
   ``timestamp`` as unix seconds, or milliseconds when the number is at least
   2**31 - 1, or ISO 8601 when it contains ``T``, else
   ``yyyy-MM-dd HH:mm:ss`` (read here as UTC); ``speed`` in **knots**;
   ``bearing`` or ``heading`` (degrees); ``altitude`` (m); ``accuracy`` (m);
   ``hdop``; ``batt`` (percent); ``charge`` (true/false); ``valid``
   (true/false/1/0). Other parameters are ignored.
2. JSON, sent by Traccar Client 9+ (server 6.7.0+), the native format of its
   background-location SDK::

       {"location": {"timestamp": "2000-01-01T00:00:00.000Z",
                     "coords": {"latitude": 0.0, "longitude": 0.0, "accuracy": 0,
                                "speed": 0, "heading": 0, "altitude": 0},
                     "is_moving": false, "odometer": 0, "event": "motionchange",
                     "battery": {"level": 1, "is_charging": false},
                     "activity": {"type": "still"}, "extras": {}},
        "device_id": "48241179"}

   where ``speed`` is in m/s, ``battery.level`` is a fraction 0..1 and the SDK
   uses -1 for "unknown" speed, heading and battery level. When the SDK
   batches, ``location`` is a list of such objects; each is decoded.

The answer is a plain ``200 OK`` with an empty body. ``seq`` is derived from
the fix time in whole seconds so a re-sent fix dedupes on (device, seq).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs

__all__ = [
    "KNOT_IN_MPS",
    "SEQ_SLOTS_PER_SECOND",
    "OsmAndDecoded",
    "OsmAndRejected",
    "decode_osmand",
    "parse_osmand_timestamp",
]

KNOT_IN_MPS = 1852 / 3600
SEQ_SLOTS_PER_SECOND = 4  # slot 0 position, 1 battery, 2 heartbeat
MAX_LOCATIONS_PER_REQUEST = 1_000
_JAVA_INT_MAX = 2**31 - 1
_TRUE = {"true", "1"}


class OsmAndRejected(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class OsmAndDecoded:
    """``device_id`` is as claimed by the client; the service authenticates it."""

    device_id: str
    items: list[dict[str, object]]
    time_from_server: bool = False


def parse_osmand_timestamp(value: str) -> datetime:
    """Traccar's rules: seconds, milliseconds (>= 2**31 - 1), ISO 8601, or 'Y-m-d H:M:S'."""
    value = value.strip()
    try:
        number = int(value)
    except ValueError:
        pass
    else:
        seconds = number if number < _JAVA_INT_MAX else number / 1000
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise OsmAndRejected("invalid_timestamp") from exc
    try:
        if "T" in value:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise OsmAndRejected("invalid_timestamp") from exc


def _finite(value: object, reason: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise OsmAndRejected(reason)
    try:
        number = float(value)
    except ValueError as exc:
        raise OsmAndRejected(reason) from exc
    if not math.isfinite(number):
        raise OsmAndRejected(reason)
    return number


@dataclass
class _Fix:
    ts: datetime
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None
    altitude_m: float | None = None
    battery_percent: float | None = None
    charging: bool = False
    valid: bool = True


def _items(fix: _Fix) -> list[dict[str, object]]:
    base = int(fix.ts.timestamp()) * SEQ_SLOTS_PER_SECOND
    ts = fix.ts.astimezone(UTC).isoformat()
    items: list[dict[str, object]] = []
    if fix.valid and fix.lat is not None and fix.lon is not None:
        position: dict[str, object] = {
            "type": "position",
            "seq": base,
            "ts": ts,
            "lat": fix.lat,
            "lon": fix.lon,
        }
        optional = {
            "accuracy_m": fix.accuracy_m,
            "speed_mps": fix.speed_mps,
            "heading_deg": fix.heading_deg,
            "altitude_m": fix.altitude_m,
        }
        position.update({k: v for k, v in optional.items() if v is not None})
        items.append(position)
    if fix.battery_percent is not None and 0 <= fix.battery_percent <= 100:
        items.append(
            {
                "type": "battery",
                "seq": base + 1,
                "ts": ts,
                "level": round(fix.battery_percent),
                "charging": fix.charging,
            }
        )
    if not items:
        items.append({"type": "heartbeat", "seq": base + 2, "ts": ts})
    return items


def _non_negative(value: float | None) -> float | None:
    return value if value is not None and value >= 0 else None


def _decode_params(params: Mapping[str, list[str]], *, now: datetime) -> OsmAndDecoded:
    def first(*names: str) -> str | None:
        for name in names:
            if params.get(name):
                return params[name][0]
        return None

    device_id = first("id", "deviceid")
    if not device_id:
        raise OsmAndRejected("missing_device_id")
    raw_ts = first("timestamp")
    fix = _Fix(ts=parse_osmand_timestamp(raw_ts) if raw_ts else now)
    location = first("location")
    if location is not None:
        parts = location.split(",")
        if len(parts) != 2:
            raise OsmAndRejected("invalid_location")
        fix.lat, fix.lon = (_finite(p, "invalid_location") for p in parts)
    fix.lat = _finite(first("lat"), "invalid_lat") if "lat" in params else fix.lat
    fix.lon = _finite(first("lon"), "invalid_lon") if "lon" in params else fix.lon
    speed_knots = _non_negative(_finite(first("speed"), "invalid_speed"))
    fix.speed_mps = None if speed_knots is None else speed_knots * KNOT_IN_MPS
    heading = _non_negative(_finite(first("bearing", "heading"), "invalid_bearing"))
    fix.heading_deg = None if heading is None else heading % 360
    fix.altitude_m = _finite(first("altitude"), "invalid_altitude")
    fix.accuracy_m = _non_negative(_finite(first("accuracy"), "invalid_accuracy"))
    fix.battery_percent = _finite(first("batt"), "invalid_batt")
    fix.charging = (first("charge") or "").lower() in _TRUE
    valid = first("valid")
    fix.valid = valid is None or valid.lower() in _TRUE
    return OsmAndDecoded(device_id=device_id, items=_items(fix), time_from_server=raw_ts is None)


def _seq_of(item: Mapping[str, object]) -> int:
    seq = item["seq"]
    assert isinstance(seq, int)
    return seq


def _fix_from_json(location: dict[str, object], *, now: datetime) -> _Fix:
    raw_ts = location.get("timestamp")
    if raw_ts is not None and not isinstance(raw_ts, str):
        raise OsmAndRejected("invalid_timestamp")
    fix = _Fix(ts=parse_osmand_timestamp(raw_ts) if raw_ts else now)
    coords = location.get("coords")
    if isinstance(coords, dict):
        fix.lat = _finite(coords.get("latitude"), "invalid_lat")
        fix.lon = _finite(coords.get("longitude"), "invalid_lon")
        fix.accuracy_m = _non_negative(_finite(coords.get("accuracy"), "invalid_accuracy"))
        fix.speed_mps = _non_negative(_finite(coords.get("speed"), "invalid_speed"))
        heading = _non_negative(_finite(coords.get("heading"), "invalid_heading"))
        fix.heading_deg = None if heading is None else heading % 360
        fix.altitude_m = _finite(coords.get("altitude"), "invalid_altitude")
    battery = location.get("battery")
    if isinstance(battery, dict):
        level = _non_negative(_finite(battery.get("level"), "invalid_battery"))
        fix.battery_percent = None if level is None or level > 1 else level * 100
        fix.charging = battery.get("is_charging") is True
    return fix


def _decode_json(payload: object, *, now: datetime) -> OsmAndDecoded:
    if not isinstance(payload, dict):
        raise OsmAndRejected("not_an_object")
    device_id = payload.get("device_id")
    location = payload.get("location")
    if not isinstance(device_id, str | int) or isinstance(device_id, bool) or device_id == "":
        raise OsmAndRejected("missing_device_id")
    # The SDK sends one location object, or a list of them when it batches.
    locations = location if isinstance(location, list) else [location]
    if not locations or len(locations) > MAX_LOCATIONS_PER_REQUEST:
        raise OsmAndRejected("missing_location" if not locations else "too_many_locations")
    items: list[dict[str, object]] = []
    time_from_server = False
    for entry in locations:
        if not isinstance(entry, dict):
            raise OsmAndRejected("missing_location")
        time_from_server = time_from_server or not entry.get("timestamp")
        items.extend(_items(_fix_from_json(entry, now=now)))
    items.sort(key=_seq_of)
    return OsmAndDecoded(device_id=str(device_id), items=items, time_from_server=time_from_server)


def decode_osmand(
    *, query: str, headers: Mapping[str, str], body: bytes, now: datetime
) -> OsmAndDecoded:
    """Decode one OsmAnd request; ``now`` stands in when the client sends no time."""
    content_type = next((v.lower() for k, v in headers.items() if k.lower() == "content-type"), "")
    if query:
        return _decode_params(parse_qs(query), now=now)
    stripped = body.strip()
    if "json" in content_type or stripped.startswith(b"{"):
        try:
            payload = json.loads(stripped)
        except (ValueError, UnicodeDecodeError) as exc:
            raise OsmAndRejected("not_json") from exc
        return _decode_json(payload, now=now)
    try:
        form = stripped.decode("ascii")
    except UnicodeDecodeError as exc:
        raise OsmAndRejected("not_form") from exc
    return _decode_params(parse_qs(form), now=now)
