"""OwnTracks in HTTP mode -> canonical telemetry items.

Format, as documented by OwnTracks (booklet, "HTTP" and "JSON" pages,
https://owntracks.org/booklet/tech/http/ and
https://owntracks.org/booklet/tech/json/):

* the app POSTs the same JSON payloads it would publish over MQTT, one per
  request, identified by ``_type``; only ``location`` is used here, every
  other type (``transition``, ``waypoint``, ``waypoints``, ``lwt``,
  ``status``, ``card``, ``cmd``, ``steps``, ``beacon``...) is acknowledged
  and ignored, and a zero-length body (sent when a friend is deleted) is
  ignored too. ``encrypted`` payloads are not supported: they come back with
  no items and ``message_type == "encrypted"`` so the service can say so;
* authentication is HTTP Basic; user and device name may also come as the
  ``X-Limit-U`` / ``X-Limit-D`` headers (or ``?u=&d=`` in the URL);
* ``location`` fields: ``lat``, ``lon`` (degrees, required), ``tst`` (unix
  seconds of the fix, required), ``acc`` (m), ``alt`` (m), ``vac`` (m),
  ``vel`` (km/h), ``cog`` (degrees), ``batt`` (percent), ``bs`` (battery
  status 0 unknown, 1 unplugged, 2 charging, 3 full), ``tid``, ``conn``
  (w wifi, m mobile, o offline), ``t`` (trigger), ``m`` (monitoring mode)...
* a 200 response carries a JSON array, normally empty: ``[]``.

``seq`` is derived from ``tst`` (``tst * SEQ_SLOTS_PER_SECOND + slot``) so a
re-sent location produces the same items and dedupes on (device, seq).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs

__all__ = [
    "OWNTRACKS_EMPTY_RESPONSE",
    "SEQ_SLOTS_PER_SECOND",
    "BasicCredentials",
    "OwnTracksDecoded",
    "OwnTracksRejected",
    "decode_owntracks",
    "owntracks_response",
    "parse_basic_auth",
]

OWNTRACKS_EMPTY_RESPONSE = b"[]"
SEQ_SLOTS_PER_SECOND = 4  # slot 0 position, slot 1 battery
_KMH_TO_MPS = 1 / 3.6
# bs: 2 charging and 3 full (on the charger) both mean plugged in; 0 unknown -> False.
_CHARGING_STATES = {2: True, 3: True, 1: False}


class OwnTracksRejected(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class OwnTracksDecoded:
    """``user``/``device`` as claimed by the app; the service authenticates them."""

    credentials: BasicCredentials | None
    user: str | None
    device: str | None
    tracker_id: str | None
    message_type: str | None
    items: list[dict[str, object]]


def owntracks_response() -> bytes:
    """Body of the 200 answer: an empty JSON array (no friends, no commands)."""
    return OWNTRACKS_EMPTY_RESPONSE


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value.strip()
    return None


def parse_basic_auth(value: str | None) -> BasicCredentials | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return BasicCredentials(username=username, password=password) if sep else None


def _number(payload: Mapping[str, object], key: str) -> float | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise OwnTracksRejected(f"invalid_{key}")
    try:
        number = float(value)
    except ValueError as exc:
        raise OwnTracksRejected(f"invalid_{key}") from exc
    if not math.isfinite(number):
        raise OwnTracksRejected(f"invalid_{key}")
    return number


def _location_items(payload: Mapping[str, object]) -> list[dict[str, object]]:
    lat, lon, tst = _number(payload, "lat"), _number(payload, "lon"), _number(payload, "tst")
    if lat is None or lon is None or tst is None:
        raise OwnTracksRejected("missing_field")
    seconds = int(tst)
    ts = datetime.fromtimestamp(seconds, tz=UTC).isoformat()
    position: dict[str, object] = {
        "type": "position",
        "seq": seconds * SEQ_SLOTS_PER_SECOND,
        "ts": ts,
        "lat": lat,
        "lon": lon,
        "source": "gnss",  # OwnTracks does not say; the phone fuses GNSS/wifi/cell
    }
    acc, alt, vel, cog = (_number(payload, k) for k in ("acc", "alt", "vel", "cog"))
    if acc is not None and acc >= 0:  # iOS sends acc only when >= 0; never trust < 0
        position["accuracy_m"] = acc
    if alt is not None:
        position["altitude_m"] = alt
    if vel is not None and vel >= 0:
        position["speed_mps"] = vel * _KMH_TO_MPS
    if cog is not None and cog >= 0:
        position["heading_deg"] = cog % 360
    items = [position]
    batt = _number(payload, "batt")
    if batt is not None and 0 <= batt <= 100:
        status = payload.get("bs")
        items.append(
            {
                "type": "battery",
                "seq": seconds * SEQ_SLOTS_PER_SECOND + 1,
                "ts": ts,
                "level": round(batt),
                "charging": _CHARGING_STATES.get(status, False) if type(status) is int else False,
            }
        )
    return items


def decode_owntracks(
    *, headers: Mapping[str, str], body: bytes, query: str = ""
) -> OwnTracksDecoded:
    """Decode one OwnTracks HTTP POST into canonical items (possibly none)."""
    credentials = parse_basic_auth(_header(headers, "authorization"))
    params = parse_qs(query, keep_blank_values=False)
    user = _header(headers, "x-limit-u") or next(iter(params.get("u", [])), None)
    device = _header(headers, "x-limit-d") or next(iter(params.get("d", [])), None)
    if user is None and credentials is not None:
        user = credentials.username
    if not body.strip():
        return OwnTracksDecoded(credentials, user, device, None, None, [])
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OwnTracksRejected("not_json") from exc
    if not isinstance(payload, dict):
        raise OwnTracksRejected("not_an_object")
    message_type = payload.get("_type")
    if not isinstance(message_type, str):
        raise OwnTracksRejected("missing_type")
    tid = payload.get("tid") if isinstance(payload.get("tid"), str) else None
    items = _location_items(payload) if message_type == "location" else []
    return OwnTracksDecoded(credentials, user, device, tid, message_type, items)
