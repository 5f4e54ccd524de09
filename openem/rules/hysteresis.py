"""Opening and closing zone violations with hysteresis, one state per (subject, zone).

A fix is *violating* when the zone's schedule is active and the fix is clearly on
the wrong side (OUTSIDE an inclusion zone, INSIDE an exclusion zone); *compliant*
when the schedule is inactive or the fix is clearly on the right side; otherwise
(UNCERTAIN, or flagged as poor quality while the schedule is active) *neutral*.
Neutral fixes neither count toward a streak nor break one.

A violation opens after a streak of violating fixes with no compliant fix between
them reaches the policy's fix count or duration; it closes after a streak of
compliant fixes does. Opening and closing are dated at the first fix of the streak.
Fixes are taken in (time, fix id) order; a fix that sorts before the last one taken
is returned as late, for the caller to replay from stored history, and a repeat of
the last one is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Any

from openem.errors import Invalid
from openem.zones.geometry import Classification
from openem.zones.index import ZoneKind

FixId = int | str
EVIDENCE_LIMIT = 50


class HysteresisError(Invalid):
    """A policy or persisted state was refused."""


class Verdict(Enum):
    VIOLATING = "violating"
    COMPLIANT = "compliant"
    NEUTRAL = "neutral"


class Change(StrEnum):
    OPENED = "opened"
    CLOSED = "closed"


@dataclass(frozen=True)
class HysteresisPolicy:
    """Exactly one of fixes / minutes for opening, and exactly one for closing."""

    open_after_fixes: int | None = 3
    open_after_minutes: float | None = None
    close_after_fixes: int | None = 3
    close_after_minutes: float | None = None

    def __post_init__(self) -> None:
        for label, fixes, minutes in (
            ("opening", self.open_after_fixes, self.open_after_minutes),
            ("closing", self.close_after_fixes, self.close_after_minutes),
        ):
            if (fixes is None) == (minutes is None):
                raise HysteresisError(f"{label} needs exactly one of a fix count or minutes")
            if fixes is not None and (isinstance(fixes, bool) or fixes < 1):
                raise HysteresisError(f"{label} fix count must be 1 or more")
            if minutes is not None and not minutes >= 0:
                raise HysteresisError(f"{label} minutes must be 0 or more")


@dataclass(frozen=True)
class ZoneObservation:
    """One fix as seen against one zone (a row of `ZoneIndex.evaluate`)."""

    fix_id: FixId
    at: datetime
    classification: Classification
    active: bool
    flagged: bool = False


@dataclass(frozen=True)
class Transition:
    change: Change
    at: datetime
    decided_at: datetime
    evidence_fix_ids: tuple[FixId, ...]


@dataclass(frozen=True)
class ViolationState:
    open: bool = False
    opened_at: datetime | None = None
    streak_started_at: datetime | None = None
    streak_length: int = 0
    streak_fix_ids: tuple[FixId, ...] = ()
    last_fix_at: datetime | None = None
    last_fix_id: FixId | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "opened_at": _iso(self.opened_at),
            "streak_started_at": _iso(self.streak_started_at),
            "streak_length": self.streak_length,
            "streak_fix_ids": list(self.streak_fix_ids),
            "last_fix_at": _iso(self.last_fix_at),
            "last_fix_id": self.last_fix_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViolationState:
        try:
            state = cls(
                open=bool(data["open"]),
                opened_at=_from_iso(data["opened_at"]),
                streak_started_at=_from_iso(data["streak_started_at"]),
                streak_length=int(data["streak_length"]),
                streak_fix_ids=tuple(_fix_id(f) for f in data["streak_fix_ids"]),
                last_fix_at=_from_iso(data["last_fix_at"]),
                last_fix_id=None if data["last_fix_id"] is None else _fix_id(data["last_fix_id"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise HysteresisError(f"malformed violation state: {type(exc).__name__}") from None
        if state.open and state.opened_at is None:
            raise HysteresisError("malformed violation state: open without an opening time")
        return state


@dataclass(frozen=True)
class Advance:
    state: ViolationState
    transitions: tuple[Transition, ...]
    late_fix_ids: tuple[FixId, ...]


def verdict(*, kind: ZoneKind, observation: ZoneObservation) -> Verdict:
    if not observation.active:
        return Verdict.COMPLIANT
    if observation.flagged or observation.classification == Classification.UNCERTAIN:
        return Verdict.NEUTRAL
    wrong_side = Classification.OUTSIDE if kind == ZoneKind.INCLUSION else Classification.INSIDE
    return Verdict.VIOLATING if observation.classification == wrong_side else Verdict.COMPLIANT


def advance(
    *,
    policy: HysteresisPolicy,
    kind: ZoneKind,
    state: ViolationState,
    observations: Iterable[ZoneObservation],
) -> Advance:
    """Take a batch of observations of one (subject, zone) in fix-time order."""
    transitions: list[Transition] = []
    late: list[FixId] = []
    last = None if state.last_fix_at is None else (state.last_fix_at, _id_key(state.last_fix_id))
    unrecorded: ZoneObservation | None = None  # taken, but not yet the state's last fix
    for observation in sorted(observations, key=_order):
        if observation.at.tzinfo is None:
            raise HysteresisError("observation time must carry a time zone")
        order = _order(observation)
        if last is not None and order <= last:
            if order < last:
                late.append(observation.fix_id)
            continue
        last = order
        seen = verdict(kind=kind, observation=observation)
        if seen is Verdict.NEUTRAL or (seen is not _toward(state) and _no_streak(state)):
            unrecorded = observation  # nothing changes but the last fix: record it later
            continue
        unrecorded = None
        state, transition = _step(policy=policy, state=state, observation=observation,
                                  verdict=seen)
        if transition is not None:
            transitions.append(transition)
    if unrecorded is not None:
        state = replace(state, last_fix_at=unrecorded.at, last_fix_id=unrecorded.fix_id)
    return Advance(state=state, transitions=tuple(transitions), late_fix_ids=tuple(late))


def _toward(state: ViolationState) -> Verdict:
    return Verdict.COMPLIANT if state.open else Verdict.VIOLATING


def _no_streak(state: ViolationState) -> bool:
    """A verdict against the streak's direction would reset nothing."""
    return state.streak_length == 0 and state.streak_started_at is None and not state.streak_fix_ids


def replay(
    *, policy: HysteresisPolicy, kind: ZoneKind, observations: Iterable[ZoneObservation]
) -> Advance:
    """Evaluate a whole history from a fresh state (used after late fixes arrive)."""
    return advance(policy=policy, kind=kind, state=ViolationState(), observations=observations)


def _step(
    *,
    policy: HysteresisPolicy,
    state: ViolationState,
    observation: ZoneObservation,
    verdict: Verdict,
) -> tuple[ViolationState, Transition | None]:
    state = replace(state, last_fix_at=observation.at, last_fix_id=observation.fix_id)
    if verdict is Verdict.NEUTRAL:
        return state, None
    toward = Verdict.COMPLIANT if state.open else Verdict.VIOLATING
    if verdict is not toward:
        return replace(state, streak_started_at=None, streak_length=0, streak_fix_ids=()), None
    started = state.streak_started_at or observation.at
    length = state.streak_length + 1
    evidence = state.streak_fix_ids
    if len(evidence) < EVIDENCE_LIMIT:
        evidence = (*evidence, observation.fix_id)
    state = replace(
        state, streak_started_at=started, streak_length=length, streak_fix_ids=evidence
    )
    fixes, minutes = (
        (policy.close_after_fixes, policy.close_after_minutes)
        if state.open
        else (policy.open_after_fixes, policy.open_after_minutes)
    )
    reached = (
        length >= fixes
        if fixes is not None
        else observation.at - started >= timedelta(minutes=minutes or 0.0)
    )
    if not reached:
        return state, None
    change = Change.CLOSED if state.open else Change.OPENED
    transition = Transition(
        change=change, at=started, decided_at=observation.at, evidence_fix_ids=evidence
    )
    return (
        replace(
            state,
            open=not state.open,
            opened_at=None if state.open else started,
            streak_started_at=None,
            streak_length=0,
            streak_fix_ids=(),
        ),
        transition,
    )


def _order(observation: ZoneObservation) -> tuple[datetime, tuple[int, int, str]]:
    return observation.at, _id_key(observation.fix_id)


def _id_key(fix_id: FixId | None) -> tuple[int, int, str]:
    if isinstance(fix_id, int):
        return (0, fix_id, "")
    return (1, 0, fix_id or "")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _from_iso(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive time")
    return parsed


def _fix_id(value: Any) -> FixId:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError("fix id must be an int or a string")
    return value
