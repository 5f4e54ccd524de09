"""Telemetry batches: each item validated on its own, bad ones listed back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openem.ingest.items import (
    MAX_ITEMS,
    BatchRejected,
    BatteryItem,
    PositionItem,
    StrapItem,
    WornItem,
    parse_batch,
    parse_batch_json,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
TS = "2026-03-01T11:59:00Z"


def position(seq: object, **overrides: object) -> dict[str, object]:
    item: dict[str, object] = {
        "type": "position",
        "seq": seq,
        "ts": TS,
        "lat": 51.5,
        "lon": -0.12,
        "accuracy_m": 8.0,
        "speed_mps": 1.2,
        "heading_deg": 90,
        "altitude_m": 20.5,
        "source": "gnss",
    }
    item.update(overrides)
    return item


def reasons(raw: object) -> list[tuple[int, int | None, str]]:
    return [(r.index, r.seq, r.reason) for r in parse_batch(raw, now=NOW).rejected]


def test_every_item_type_is_accepted() -> None:
    batch = {
        "items": [
            position(1),
            {"type": "battery", "seq": 2, "ts": TS, "level": 80, "charging": False},
            {"type": "strap", "seq": 3, "ts": TS, "state": "cut"},
            {"type": "case", "seq": 4, "ts": TS, "state": "opened"},
            {"type": "signal", "seq": 5, "ts": TS, "rssi": -85, "network": "lte"},
            {"type": "heartbeat", "seq": 6, "ts": TS},
            {"type": "worn", "seq": 7, "ts": TS, "worn": True},
        ]
    }
    parsed = parse_batch(batch, now=NOW)
    assert parsed.rejected == []
    assert [item.type for item in parsed.items] == [
        "position",
        "battery",
        "strap",
        "case",
        "signal",
        "heartbeat",
        "worn",
    ]
    assert isinstance(parsed.items[0], PositionItem)
    assert isinstance(parsed.items[1], BatteryItem)
    assert isinstance(parsed.items[2], StrapItem) and parsed.items[2].state == "cut"
    assert isinstance(parsed.items[6], WornItem) and parsed.items[6].worn is True
    assert parsed.items[0].ts == datetime(2026, 3, 1, 11, 59, tzinfo=UTC)


def test_bad_item_is_listed_back_while_good_items_pass() -> None:
    parsed = parse_batch({"items": [position(1), position(2, lat=123.0), position(3)]}, now=NOW)
    assert [item.seq for item in parsed.items] == [1, 3]
    (bad,) = parsed.rejected
    assert (bad.index, bad.seq, bad.reason, bad.field) == (1, 2, "invalid_value", "lat")


def test_nan_and_infinity_are_refused_per_item() -> None:
    text = (
        '{"items": [{"type":"position","seq":1,"ts":"TS","lat":NaN,"lon":0.1},'
        '{"type":"position","seq":2,"ts":"TS","lat":1.0,"lon":Infinity},'
        '{"type":"position","seq":3,"ts":"TS","lat":1.0,"lon":1.0}]}'
    )
    raw = json.loads(text.replace("TS", TS))
    assert reasons(raw) == [(0, 1, "not_finite"), (1, 2, "not_finite")]


def test_unknown_fields_are_refused() -> None:
    assert reasons({"items": [position(1, colour="red")]}) == [(0, 1, "unknown_field")]


def test_unknown_item_type_is_refused() -> None:
    item = {"type": "teleport", "seq": 1, "ts": TS}
    assert reasons({"items": [item, {"seq": 2, "ts": TS}]}) == [
        (0, 1, "unknown_type"),
        (1, 2, "missing_type"),
    ]


def test_missing_required_field_is_refused() -> None:
    assert reasons({"items": [{"type": "worn", "seq": 1, "ts": TS}]}) == [(0, 1, "missing_field")]


def test_timestamp_without_offset_is_refused() -> None:
    item = position(1, ts="2026-03-01T11:59:00")
    assert reasons({"items": [item]}) == [(0, 1, "ts_without_offset")]


def test_timestamp_as_number_is_refused() -> None:
    assert reasons({"items": [position(1, ts=1772366340)]}) == [(0, 1, "invalid_value")]


def test_items_older_than_seven_days_are_refused() -> None:
    old = (NOW - timedelta(days=7, seconds=1)).isoformat()
    just_in = (NOW - timedelta(days=7)).isoformat()
    assert reasons({"items": [position(1, ts=old), position(2, ts=just_in)]}) == [
        (0, 1, "ts_too_old")
    ]


def test_items_more_than_five_minutes_in_the_future_are_refused() -> None:
    ahead = (NOW + timedelta(minutes=5, seconds=1)).isoformat()
    near = (NOW + timedelta(minutes=5)).isoformat()
    assert reasons({"items": [position(1, ts=ahead), position(2, ts=near)]}) == [
        (0, 1, "ts_in_future")
    ]


@pytest.mark.parametrize("offset", [timedelta(hours=5, minutes=30), timedelta(hours=-8)])
def test_time_bounds_hold_whatever_offset_the_items_carry(offset: timedelta) -> None:
    zone = timezone(offset)
    times = [
        NOW - timedelta(days=7, seconds=1),
        NOW - timedelta(days=7),
        NOW,
        NOW + timedelta(minutes=5),
        NOW + timedelta(minutes=5, seconds=1),
    ]
    items = [position(seq, ts=at.astimezone(zone).isoformat()) for seq, at in enumerate(times)]
    mixed = [items[0], *(position(seq, ts=at.isoformat()) for seq, at in enumerate(times[1:], 1))]
    for batch in ({"items": items}, {"items": mixed}):
        expected = [(0, 0, "ts_too_old"), (4, 4, "ts_in_future")]
        assert reasons(batch) == expected
        parsed = parse_batch_json(json.dumps(batch), now=NOW)
        assert [(r.index, r.seq, r.reason) for r in parsed.rejected] == expected
        assert [item.seq for item in parsed.items] == [1, 2, 3]


def test_duplicate_seq_within_a_batch_is_reported_as_duplicate() -> None:
    assert reasons({"items": [position(5), position(5), position(6)]}) == [(1, 5, "seq_duplicate")]


def test_seq_going_backwards_within_a_batch_is_refused() -> None:
    assert reasons({"items": [position(5), position(3), position(6)]}) == [
        (1, 3, "seq_not_increasing")
    ]


def test_a_refused_item_does_not_block_its_seq_for_a_later_good_item() -> None:
    parsed = parse_batch({"items": [position(1, lat="north"), position(1)]}, now=NOW)
    assert [item.seq for item in parsed.items] == [1]


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (position(-1), "invalid_value"),
        (position(True), "invalid_value"),
        (position("7"), "invalid_value"),
        ({"type": "battery", "seq": 1, "ts": TS, "level": 101}, "invalid_value"),
        ({"type": "battery", "seq": 1, "ts": TS, "level": 50, "charging": "yes"}, "invalid_value"),
        ({"type": "strap", "seq": 1, "ts": TS, "state": "loose"}, "invalid_value"),
        ({"type": "case", "seq": 1, "ts": TS, "state": "cut"}, "invalid_value"),
        ({"type": "signal", "seq": 1, "ts": TS, "rssi": 5, "network": "lte"}, "invalid_value"),
        (position(1, source="gps"), "invalid_value"),
        (position(1, lat="51.5"), "invalid_value"),
        (position(1, accuracy_m=-1), "invalid_value"),
        ("not an item", "not_an_object"),
    ],
)
def test_invalid_values_are_refused(item: object, reason: str) -> None:
    (rejected,) = parse_batch({"items": [item]}, now=NOW).rejected
    assert rejected.reason == reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ([], "not_an_object"),
        ("items", "not_an_object"),
        ({}, "items_missing"),
        ({"items": {}}, "items_not_a_list"),
        ({"items": [], "device": "x"}, "unknown_field"),
        (
            {"items": [{"type": "heartbeat", "seq": i, "ts": TS} for i in range(MAX_ITEMS + 1)]},
            "too_many_items",
        ),
    ],
)
def test_unusable_batches_are_rejected_as_a_whole(raw: object, reason: str) -> None:
    with pytest.raises(BatchRejected) as excinfo:
        parse_batch(raw, now=NOW)
    assert excinfo.value.reason == reason


def test_a_full_batch_of_one_thousand_items_is_accepted() -> None:
    items = [{"type": "heartbeat", "seq": i, "ts": TS} for i in range(MAX_ITEMS)]
    assert len(parse_batch({"items": items}, now=NOW).items) == MAX_ITEMS


def test_rejection_reasons_carry_no_values() -> None:
    (rejected,) = parse_batch({"items": [position(1, lat=99.123456)]}, now=NOW).rejected
    assert "99.12" not in repr(rejected)


# --- properties -------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
timestamps = st.datetimes(
    min_value=datetime(2026, 2, 23), max_value=datetime(2026, 3, 1, 12, 4), timezones=st.just(UTC)
)


@st.composite
def valid_items(draw: st.DrawFn, seq: int) -> dict[str, Any]:
    ts = draw(timestamps).isoformat()
    kind = draw(st.sampled_from(["position", "battery", "strap", "heartbeat", "worn"]))
    if kind == "position":
        return {
            "type": kind,
            "seq": seq,
            "ts": ts,
            "lat": draw(st.floats(-90, 90)),
            "lon": draw(st.floats(-180, 180)),
            "accuracy_m": draw(st.floats(0, 5000)),
        }
    if kind == "battery":
        return {"type": kind, "seq": seq, "ts": ts, "level": draw(st.integers(0, 100))}
    if kind == "strap":
        return {
            "type": kind,
            "seq": seq,
            "ts": ts,
            "state": draw(st.sampled_from(["intact", "opened", "cut"])),
        }
    if kind == "worn":
        return {"type": kind, "seq": seq, "ts": ts, "worn": draw(st.booleans())}
    return {"type": kind, "seq": seq, "ts": ts}


@st.composite
def valid_batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    seqs = sorted(draw(st.sets(st.integers(0, 2**40), max_size=30)))
    return [draw(valid_items(seq)) for seq in seqs]


@settings(max_examples=80, deadline=None)
@given(valid_batches())
def test_property_valid_items_with_increasing_seq_are_all_accepted(
    items: list[dict[str, Any]],
) -> None:
    parsed = parse_batch({"items": items}, now=NOW)
    assert parsed.rejected == []
    assert [item.seq for item in parsed.items] == [item["seq"] for item in items]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
junk_items = st.one_of(
    json_values,
    valid_items(7).flatmap(
        lambda item: st.dictionaries(st.sampled_from([*item, "extra"]), json_values).map(
            lambda changes: {**item, **changes}
        )
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(junk_items, max_size=20))
def test_property_every_item_is_either_accepted_or_listed_back(items: list[object]) -> None:
    parsed = parse_batch({"items": items}, now=NOW)
    assert len(parsed.items) + len(parsed.rejected) == len(items)
    accepted_seqs = [item.seq for item in parsed.items]
    assert accepted_seqs == sorted(set(accepted_seqs))
    for rejected in parsed.rejected:
        assert 0 <= rejected.index < len(items)
        assert rejected.reason.isidentifier()


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-300, 300), st.floats(-400, 400),
    st.sampled_from(["gnss", "wifi", "lte", "intact", "cut", "", "2026-03-01T11:00:00",
                     "2026-03-01T11:00:00Z", "1772362800", "x"]),
)
_FIELDS = st.sampled_from(["lat", "lon", "accuracy_m", "speed_mps", "source", "level",
                           "charging", "state", "rssi", "network", "worn", "ts", "seq", "type",
                           "bogus"])
_TYPES = st.sampled_from(["position", "battery", "strap", "case", "signal", "heartbeat",
                          "worn", "satellite"])


@st.composite
def _item(draw: st.DrawFn) -> dict[str, object]:
    kind = draw(_TYPES)
    seq = draw(st.integers(0, 12))
    item: dict[str, object] = {"type": kind, "seq": seq, "ts": "2026-03-01T11:59:00Z"}
    if kind == "position":
        item |= {"lat": 51.5, "lon": -0.12, "accuracy_m": 8.0}
    if kind == "battery":
        item |= {"level": 50, "charging": False}
    for name, value in draw(st.dictionaries(_FIELDS, _VALUES, max_size=2)).items():
        item[name] = value
    return item


@given(items=st.lists(_item(), max_size=6))
@settings(max_examples=300, deadline=None)
def test_json_bodies_parse_as_their_decoded_batch(items: list[dict[str, object]]) -> None:
    body = json.dumps({"items": items})
    assert parse_batch_json(body.encode(), now=NOW) == parse_batch(json.loads(body), now=NOW)


def test_a_json_body_refused_whole_says_why_like_the_decoded_one() -> None:
    for body in ('{"items": [], "extra": 1}', '[]', '{"items": {}}'):
        with pytest.raises(BatchRejected) as from_json:
            parse_batch_json(body, now=NOW)
        with pytest.raises(BatchRejected) as decoded:
            parse_batch(json.loads(body), now=NOW)
        assert from_json.value.reason == decoded.value.reason
    with pytest.raises(ValueError):
        parse_batch_json(b"{not json", now=NOW)
