"""`advance` skips the state rebuild for fixes that change nothing but the last fix; it
must still equal taking every fix one step at a time (the plain definition)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from openem.rules.hysteresis import (
    Advance,
    HysteresisPolicy,
    Transition,
    ViolationState,
    ZoneObservation,
    _order,
    _step,
    advance,
    verdict,
)
from openem.zones.geometry import Classification
from openem.zones.index import ZoneKind

T0 = datetime(2026, 3, 1, tzinfo=UTC)
observations = st.lists(
    st.builds(
        lambda second, fix, cls, active, flagged: ZoneObservation(
            fix, T0 + timedelta(seconds=second), cls, active, flagged),
        st.integers(0, 40), st.integers(0, 60), st.sampled_from(list(Classification)),
        st.booleans(), st.booleans(),
    ),
    max_size=30,
)
policies = st.builds(HysteresisPolicy, open_after_fixes=st.integers(1, 4),
                     close_after_fixes=st.integers(1, 4))


def _one_step_at_a_time(
    *, policy: HysteresisPolicy, kind: ZoneKind, state: ViolationState,
    observations: list[ZoneObservation],
) -> Advance:
    transitions: list[Transition] = []
    late = []
    last = None if state.last_fix_at is None else (state.last_fix_at, (0, state.last_fix_id, ""))
    for observation in sorted(observations, key=_order):
        if last is not None and _order(observation) <= last:
            if _order(observation) < last:
                late.append(observation.fix_id)
            continue
        last = _order(observation)
        state, transition = _step(policy=policy, state=state, observation=observation,
                                  verdict=verdict(kind=kind, observation=observation))
        if transition is not None:
            transitions.append(transition)
    return Advance(state=state, transitions=tuple(transitions), late_fix_ids=tuple(late))


@settings(max_examples=300, deadline=None)
@given(policy=policies, kind=st.sampled_from(list(ZoneKind)), first=observations,
       second=observations)
def test_advance_equals_one_step_at_a_time(
    policy: HysteresisPolicy, kind: ZoneKind, first: list[ZoneObservation],
    second: list[ZoneObservation],
) -> None:
    fast = advance(policy=policy, kind=kind, state=ViolationState(), observations=first)
    plain = _one_step_at_a_time(policy=policy, kind=kind, state=ViolationState(),
                                observations=first)
    assert fast == plain
    again = advance(policy=policy, kind=kind, state=fast.state, observations=second)
    assert again == _one_step_at_a_time(policy=policy, kind=kind, state=plain.state,
                                        observations=second)
