from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openem.rules.hysteresis import (
    Change,
    HysteresisError,
    HysteresisPolicy,
    Transition,
    Verdict,
    ViolationState,
    ZoneObservation,
    advance,
    replay,
    verdict,
)
from openem.zones.geometry import Classification
from openem.zones.index import ZoneKind

IN, OUT, UNSURE = Classification.INSIDE, Classification.OUTSIDE, Classification.UNCERTAIN
START = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
THREE_FIXES = HysteresisPolicy(open_after_fixes=3, close_after_fixes=2)


def fixes(
    *classes: Classification, every_s: int = 60, active: bool = True, flagged: bool = False
) -> list[ZoneObservation]:
    return [
        ZoneObservation(fix_id=f"f{i}", at=START + timedelta(seconds=i * every_s),
                        classification=c, active=active, flagged=flagged)
        for i, c in enumerate(classes)
    ]


def run(observations: list[ZoneObservation], *, policy: HysteresisPolicy = THREE_FIXES,
        kind: ZoneKind = ZoneKind.INCLUSION) -> list[tuple[Change, datetime, tuple]]:
    result = replay(policy=policy, kind=kind, observations=observations)
    return [(t.change, t.at, t.evidence_fix_ids) for t in result.transitions]


def test_violation_opens_at_the_first_of_three_consecutive_outside_fixes() -> None:
    assert run(fixes(IN, OUT, OUT, OUT, OUT)) == [
        (Change.OPENED, START + timedelta(minutes=1), ("f1", "f2", "f3"))
    ]


def test_a_compliant_fix_resets_the_opening_streak() -> None:
    assert run(fixes(OUT, OUT, IN, OUT, OUT, IN)) == []


def test_uncertain_fixes_never_open_a_violation() -> None:
    assert run(fixes(*[UNSURE] * 50)) == []


def test_flagged_fixes_never_open_a_violation() -> None:
    assert run(fixes(*[OUT] * 50, flagged=True)) == []


def test_uncertain_and_flagged_fixes_neither_count_nor_break_a_streak() -> None:
    observations = fixes(OUT, UNSURE, OUT, UNSURE, OUT)
    observations[3] = ZoneObservation(fix_id="f3", at=observations[3].at, classification=IN,
                                      active=True, flagged=True)
    assert run(observations) == [(Change.OPENED, START, ("f0", "f2", "f4"))]


def test_violation_closes_at_the_first_of_the_closing_streak() -> None:
    assert run(fixes(OUT, OUT, OUT, OUT, IN, UNSURE, OUT, IN, IN)) == [
        (Change.OPENED, START, ("f0", "f1", "f2")),
        (Change.CLOSED, START + timedelta(minutes=7), ("f7", "f8")),
    ]


def test_exclusion_zone_violation_opens_on_inside_fixes() -> None:
    assert run(fixes(OUT, IN, IN, IN), kind=ZoneKind.EXCLUSION) == [
        (Change.OPENED, START + timedelta(minutes=1), ("f1", "f2", "f3"))
    ]


def test_fixes_while_the_schedule_is_inactive_are_compliant() -> None:
    assert run(fixes(*[OUT] * 10, active=False)) == []
    observations = fixes(OUT, OUT, OUT) + [
        ZoneObservation(fix_id=f"late{i}", at=START + timedelta(minutes=10 + i),
                        classification=OUT, active=False, flagged=True)
        for i in range(2)
    ]
    assert [change for change, _, _ in run(observations)] == [Change.OPENED, Change.CLOSED]


def test_minutes_policy_opens_after_the_streak_lasts_long_enough() -> None:
    policy = HysteresisPolicy(open_after_fixes=None, open_after_minutes=5,
                              close_after_fixes=None, close_after_minutes=10)
    assert run(fixes(OUT, OUT, OUT, OUT, OUT, every_s=60), policy=policy) == []
    opened = run(fixes(*[OUT] * 6, every_s=60), policy=policy)
    assert opened == [(Change.OPENED, START, ("f0", "f1", "f2", "f3", "f4", "f5"))]
    assert run(fixes(OUT, OUT, every_s=600), policy=policy)[0][0] == Change.OPENED


def test_zero_minutes_opens_on_the_first_violating_fix() -> None:
    policy = HysteresisPolicy(open_after_fixes=None, open_after_minutes=0)
    assert run(fixes(UNSURE, OUT), policy=policy) == [
        (Change.OPENED, START + timedelta(minutes=1), ("f1",))
    ]


def test_fixes_in_a_batch_are_taken_in_fix_time_order() -> None:
    observations = fixes(IN, OUT, OUT, OUT, IN, IN, OUT)
    shuffled = observations[:]
    random.Random(4).shuffle(shuffled)
    assert run(shuffled) == run(observations)


def test_a_fix_older_than_the_last_one_taken_is_returned_as_late() -> None:
    observations = fixes(OUT, OUT, OUT, OUT)
    first = advance(policy=THREE_FIXES, kind=ZoneKind.INCLUSION, state=ViolationState(),
                    observations=[observations[0], observations[2]])
    second = advance(policy=THREE_FIXES, kind=ZoneKind.INCLUSION, state=first.state,
                     observations=[observations[1], observations[3], observations[2]])
    assert second.late_fix_ids == ("f1",)
    assert [t.change for t in second.transitions] == [Change.OPENED]
    assert second.transitions[0].evidence_fix_ids == ("f0", "f2", "f3")


def test_policy_needs_exactly_one_threshold_per_direction() -> None:
    with pytest.raises(HysteresisError, match="opening needs exactly one"):
        HysteresisPolicy(open_after_fixes=3, open_after_minutes=5)
    with pytest.raises(HysteresisError, match="closing needs exactly one"):
        HysteresisPolicy(close_after_fixes=None)
    with pytest.raises(HysteresisError, match="1 or more"):
        HysteresisPolicy(open_after_fixes=0)
    with pytest.raises(HysteresisError, match="0 or more"):
        HysteresisPolicy(close_after_fixes=None, close_after_minutes=-1)


def test_malformed_persisted_state_is_refused() -> None:
    with pytest.raises(HysteresisError, match="malformed"):
        ViolationState.from_dict({"open": True})
    broken = ViolationState(open=True, opened_at=START).to_dict() | {"opened_at": None}
    with pytest.raises(HysteresisError, match="opening time"):
        ViolationState.from_dict(broken)


def test_verdicts_follow_zone_kind_schedule_and_quality() -> None:
    def judge(kind: ZoneKind, cls: Classification, *, active: bool = True,
              flagged: bool = False) -> Verdict:
        observation = ZoneObservation(fix_id=1, at=START, classification=cls, active=active,
                                      flagged=flagged)
        return verdict(kind=kind, observation=observation)

    assert judge(ZoneKind.INCLUSION, OUT) is Verdict.VIOLATING
    assert judge(ZoneKind.INCLUSION, IN) is Verdict.COMPLIANT
    assert judge(ZoneKind.EXCLUSION, IN) is Verdict.VIOLATING
    assert judge(ZoneKind.EXCLUSION, UNSURE) is Verdict.NEUTRAL
    assert judge(ZoneKind.EXCLUSION, IN, flagged=True) is Verdict.NEUTRAL
    assert judge(ZoneKind.EXCLUSION, IN, active=False) is Verdict.COMPLIANT


OBSERVATIONS = st.lists(
    st.tuples(st.integers(0, 600), st.sampled_from([IN, OUT, UNSURE]), st.booleans(),
              st.booleans()),
    max_size=40,
).map(lambda rows: [
    ZoneObservation(fix_id=i, at=START + timedelta(seconds=sum(r[0] for r in rows[: i + 1])),
                    classification=c, active=active, flagged=flagged)
    for i, (_, c, active, flagged) in enumerate(rows)
])
POLICIES = st.builds(
    HysteresisPolicy, open_after_fixes=st.integers(1, 4), close_after_fixes=st.integers(1, 4)
) | st.builds(
    HysteresisPolicy,
    open_after_fixes=st.none(),
    open_after_minutes=st.floats(0, 10),
    close_after_fixes=st.none(),
    close_after_minutes=st.floats(0, 10),
)


@settings(max_examples=150, deadline=None)
@given(observations=OBSERVATIONS, policy=POLICIES, kind=st.sampled_from(list(ZoneKind)),
       cuts=st.lists(st.integers(0, 40), max_size=4))
def test_persisting_state_between_batches_changes_nothing(
    observations: list[ZoneObservation], policy: HysteresisPolicy, kind: ZoneKind,
    cuts: list[int],
) -> None:
    whole = replay(policy=policy, kind=kind, observations=observations)
    state = ViolationState()
    transitions: list[Transition] = []
    bounds = [0, *sorted(c for c in cuts if c <= len(observations)), len(observations)]
    for lo, hi in itertools.pairwise(bounds):
        stored = json.loads(json.dumps(state.to_dict()))
        step = advance(policy=policy, kind=kind, state=ViolationState.from_dict(stored),
                       observations=observations[lo:hi])
        assert step.late_fix_ids == ()
        state = step.state
        transitions.extend(step.transitions)
    assert tuple(transitions) == whole.transitions
    assert state == whole.state


@settings(max_examples=150, deadline=None)
@given(observations=OBSERVATIONS, policy=POLICIES, kind=st.sampled_from(list(ZoneKind)))
def test_transitions_alternate_and_rest_only_on_clear_good_quality_evidence(
    observations: list[ZoneObservation], policy: HysteresisPolicy, kind: ZoneKind
) -> None:
    result = replay(policy=policy, kind=kind, observations=observations)
    by_id = {o.fix_id: o for o in observations}
    changes = [t.change for t in result.transitions]
    assert changes == [Change.OPENED, Change.CLOSED] * (len(changes) // 2) + (
        [Change.OPENED] if len(changes) % 2 else []
    )
    for transition in result.transitions:
        wanted = Verdict.VIOLATING if transition.change is Change.OPENED else Verdict.COMPLIANT
        evidence = [by_id[f] for f in transition.evidence_fix_ids]
        assert all(verdict(kind=kind, observation=o) is wanted for o in evidence)
        assert transition.at == evidence[0].at <= transition.decided_at
    assert result.state.open == (len(changes) % 2 == 1)


@settings(max_examples=100, deadline=None)
@given(noise=st.lists(st.tuples(st.sampled_from([IN, UNSURE]), st.booleans()), max_size=60),
       outside_flagged=st.lists(st.integers(0, 59), max_size=20))
def test_noisy_fixes_at_home_near_the_boundary_never_open_a_curfew_violation(
    noise: list[tuple[Classification, bool]], outside_flagged: list[int]
) -> None:
    observations = [
        ZoneObservation(fix_id=i, at=START + timedelta(minutes=i), classification=c,
                        active=True, flagged=flagged)
        for i, (c, flagged) in enumerate(noise)
    ]
    for i in outside_flagged:
        if i < len(observations):
            observations[i] = ZoneObservation(fix_id=i, at=observations[i].at,
                                              classification=OUT, active=True, flagged=True)
    assert replay(policy=THREE_FIXES, kind=ZoneKind.INCLUSION,
                  observations=observations).transitions == ()
