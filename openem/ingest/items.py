"""Telemetry batches from devices: ``{"items": [...]}``, validated item by item.

Every item carries ``seq`` (the device's own counter, the idempotency key
with the device id), ``ts`` (when it happened, ISO 8601 with an offset) and a
``type``. A bad item never sinks the batch: it is listed back with its index,
its ``seq`` when readable and a machine-readable reason, and the good items
pass. Problems with the batch itself raise :class:`BatchRejected`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    ValidationError,
)

__all__ = [
    "MAX_ITEMS",
    "MAX_ITEM_AGE",
    "MAX_ITEM_FUTURE",
    "AnyItem",
    "BatchRejected",
    "BatteryItem",
    "CaseItem",
    "HeartbeatItem",
    "ParsedBatch",
    "PositionItem",
    "RejectedItem",
    "SignalItem",
    "StrapItem",
    "TelemetryItem",
    "WornItem",
    "in_zone_of",
    "parse_batch",
]

MAX_ITEMS = 1_000
MAX_ITEM_AGE = timedelta(days=7)
MAX_ITEM_FUTURE = timedelta(minutes=5)


def _iso_string_only(value: object) -> object:
    if not isinstance(value, str | datetime):
        raise ValueError("timestamp must be an ISO 8601 string")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_string_only)]
Seq = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
# StrictFloat takes JSON integers too (as floats) and refuses booleans and strings;
# bounds on a plain float are checked inside the validator, not in Python.
Number = StrictFloat


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    seq: Seq
    ts: Timestamp


class PositionItem(_Item):
    type: Literal["position"] = "position"
    lat: Annotated[Number, Field(ge=-90, le=90)]
    lon: Annotated[Number, Field(ge=-180, le=180)]
    accuracy_m: Annotated[Number, Field(ge=0, le=1_000_000)] | None = None
    speed_mps: Annotated[Number, Field(ge=0, le=1_000)] | None = None
    heading_deg: Annotated[Number, Field(ge=0, le=360)] | None = None
    altitude_m: Annotated[Number, Field(ge=-1_000, le=100_000)] | None = None
    source: Literal["gnss", "wifi", "cell"] = "gnss"


class BatteryItem(_Item):
    type: Literal["battery"] = "battery"
    level: Annotated[StrictInt, Field(ge=0, le=100)]
    charging: StrictBool = False


class StrapItem(_Item):
    type: Literal["strap"] = "strap"
    state: Literal["intact", "opened", "cut"]


class CaseItem(_Item):
    type: Literal["case"] = "case"
    state: Literal["closed", "opened"]


class SignalItem(_Item):
    type: Literal["signal"] = "signal"
    rssi: Annotated[StrictInt, Field(ge=-200, le=0)]
    network: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,16}$")]


class HeartbeatItem(_Item):
    type: Literal["heartbeat"] = "heartbeat"


class WornItem(_Item):
    type: Literal["worn"] = "worn"
    worn: StrictBool


AnyItem = PositionItem | BatteryItem | StrapItem | CaseItem | SignalItem | HeartbeatItem | WornItem
TelemetryItem = Annotated[AnyItem, Field(discriminator="type")]
_ITEM_ADAPTER: TypeAdapter[AnyItem] = TypeAdapter(TelemetryItem)
_ITEMS_ADAPTER: TypeAdapter[list[AnyItem]] = TypeAdapter(list[TelemetryItem])


class _Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[TelemetryItem], Field(max_length=MAX_ITEMS)]


def dump_items(items: list[AnyItem]) -> list[dict[str, object]]:
    """Items as JSON-ready dicts (ISO timestamps), in one pass of the serializer."""
    return _ITEMS_ADAPTER.dump_python(items, mode="json")

# pydantic error type -> our reason; anything else is "invalid_value".
_REASONS: Mapping[str, str] = {
    "extra_forbidden": "unknown_field",
    "finite_number": "not_finite",
    "missing": "missing_field",
    "union_tag_invalid": "unknown_type",
    "union_tag_not_found": "missing_type",
    "timezone_aware": "ts_without_offset",
    "model_type": "not_an_object",
    "model_attributes_type": "not_an_object",
}


class BatchRejected(ValueError):
    """The batch as a whole is unusable; ``reason`` is machine-readable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RejectedItem:
    index: int
    seq: int | None
    reason: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    items: list[AnyItem]  # in batch order
    rejected: list[RejectedItem]


def _readable_seq(raw: object) -> int | None:
    if isinstance(raw, dict):
        seq = raw.get("seq")
        if type(seq) is int and seq >= 0:
            return seq
    return None


def _reason_of(error: ValidationError) -> tuple[str, str | None]:
    first = error.errors(include_url=False, include_input=False)[0]
    reason = _REASONS.get(first["type"], "invalid_value")
    # The discriminator adds the tag to the location; keep only field names.
    loc = [str(part) for part in first["loc"]]
    if loc and loc[0] in {"position", "battery", "strap", "case", "signal", "heartbeat", "worn"}:
        loc = loc[1:]
    return reason, ".".join(loc) or None


def _contains_non_finite(raw: object) -> bool:
    if isinstance(raw, float):
        return not math.isfinite(raw)
    if isinstance(raw, dict):
        return any(_contains_non_finite(v) for v in raw.values())
    if isinstance(raw, list):
        return any(_contains_non_finite(v) for v in raw)
    return False


def _validate_items(raw_items: list[object]) -> list[AnyItem | tuple[str, str | None]]:
    """Each item, or (reason, field) for an invalid one. The whole list is validated in
    one call first; only a list with a bad item is validated item by item."""
    try:
        return list(_ITEMS_ADAPTER.validate_python(raw_items))
    except ValidationError:
        return [_validate_item(raw_item) for raw_item in raw_items]


def _validate_item(raw_item: object) -> AnyItem | tuple[str, str | None]:
    try:
        return _ITEM_ADAPTER.validate_python(raw_item)
    except ValidationError as error:
        # Every number field refuses NaN and infinities, and no other field takes a
        # float, so a non-finite number anywhere in an item always fails validation.
        if _contains_non_finite(raw_item):
            return ("not_finite", None)
        return _reason_of(error)


def _order_problem(
    item: AnyItem, *, seen: set[int], highest: int, oldest: datetime, latest: datetime
) -> tuple[str, str | None] | None:
    if item.ts < oldest:
        return ("ts_too_old", "ts")
    if item.ts > latest:
        return ("ts_in_future", "ts")
    if item.seq in seen:
        return ("seq_duplicate", "seq")
    if item.seq < highest:
        return ("seq_not_increasing", "seq")
    return None


def parse_batch_json(
    body: bytes | str,
    *,
    now: datetime,
    max_age: timedelta = MAX_ITEM_AGE,
    max_future: timedelta = MAX_ITEM_FUTURE,
) -> ParsedBatch:
    """:func:`parse_batch` of a JSON body (``ValueError`` if it is not JSON).

    A batch whose items are all valid is parsed and validated in one pass of the
    validator over the bytes; any problem sends the body through :func:`parse_batch`,
    which says what is wrong with each item.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    try:
        items: list[AnyItem] = _Batch.model_validate_json(body).items
    except ValidationError:
        return parse_batch(json.loads(body), now=now, max_age=max_age, max_future=max_future)
    outcomes: list[AnyItem | tuple[str, str | None]] = list(items)
    return _in_order(outcomes, list(items), now=now, max_age=max_age, max_future=max_future)


def parse_batch(
    raw: object,
    *,
    now: datetime,
    max_age: timedelta = MAX_ITEM_AGE,
    max_future: timedelta = MAX_ITEM_FUTURE,
) -> ParsedBatch:
    """Validate a decoded JSON batch; good items pass, bad ones are listed back.

    Within a batch ``seq`` must strictly increase over the accepted items: a
    repeat of an accepted ``seq`` is ``seq_duplicate``, a lower one is
    ``seq_not_increasing``. Items older than ``max_age`` (``ts_too_old``) or
    more than ``max_future`` ahead of ``now`` (``ts_in_future``) are refused.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(raw, dict):
        raise BatchRejected("not_an_object")
    if "items" not in raw:
        raise BatchRejected("items_missing")
    if set(raw) != {"items"}:
        raise BatchRejected("unknown_field")
    raw_items = raw["items"]
    if not isinstance(raw_items, list):
        raise BatchRejected("items_not_a_list")
    if len(raw_items) > MAX_ITEMS:
        raise BatchRejected("too_many_items")

    return _in_order(_validate_items(raw_items), raw_items, now=now, max_age=max_age,
                     max_future=max_future)


def in_zone_of(moment: datetime, items: Sequence[object]) -> datetime:
    """``moment`` in the time zone object of the first item's ``ts``, when there are
    enough items for it to pay. Comparing or subtracting aware datetimes whose ``tzinfo``
    objects differ asks both for their offset (about a third of a microsecond); the
    validator gives the items of a batch with one offset one ``tzinfo`` object."""
    if len(items) < _ZONE_PAYS or not isinstance(first := items[0], _Item):
        return moment
    return moment.astimezone(first.ts.tzinfo)


# Converting a moment costs about two comparisons.
_ZONE_PAYS = 4


def _in_order(
    outcomes: list[AnyItem | tuple[str, str | None]],
    raw_items: list[object],
    *,
    now: datetime,
    max_age: timedelta,
    max_future: timedelta,
) -> ParsedBatch:
    accepted: list[AnyItem] = []
    rejected: list[RejectedItem] = []
    seen: set[int] = set()
    highest = -1
    oldest = in_zone_of(now - max_age, outcomes)
    latest = in_zone_of(now + max_future, outcomes)
    for index, (raw_item, outcome) in enumerate(zip(raw_items, outcomes, strict=True)):
        if isinstance(outcome, tuple):
            problem: tuple[str, str | None] | None = outcome
            seq = _readable_seq(raw_item)
        else:
            item, seq = outcome, outcome.seq
            problem = _order_problem(item, seen=seen, highest=highest, oldest=oldest, latest=latest)
        if problem is not None:
            reason, field = problem
            rejected.append(RejectedItem(index=index, seq=seq, reason=reason, field=field))
            continue
        seen.add(item.seq)
        highest = item.seq
        accepted.append(item)
    return ParsedBatch(items=accepted, rejected=rejected)
