"""Prompt lifecycle on both databases: planned per order and local day, redrawn when the
order changes, issued to the device inbox, and closed as missed or technical for the rules."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.principal import SYSTEM
from openem.alerts.types import AlertType
from openem.bus.outbox import OutboxMessage
from openem.checkins import service
from openem.checkins.config import CheckinConfig
from openem.checkins.models import CheckinPlan, CheckinPrompt, PromptStatus
from openem.db.session import transaction
from openem.devices import inbox
from openem.subjects import service as subjects_service
from openem.subjects.models import Order
from openem.subjects.schemas import OrderUpdate
from tests.support.rules import Wearer, wearer

CONFIG = CheckinConfig()


def _order_id(sessions: sessionmaker[Session], w: Wearer) -> uuid.UUID:
    with sessions() as session:
        return session.scalars(select(Order.id).where(Order.subject_id == w.subject_id)).one()


def _update(sessions: sessionmaker[Session], w: Wearer, **changes: object) -> None:
    with transaction(sessions) as session:
        subjects_service.update_order(session, principal=SYSTEM, order_id=_order_id(sessions, w),
                                      data=OrderUpdate.model_validate(changes))


def _prompts(sessions: sessionmaker[Session], w: Wearer) -> list[CheckinPrompt]:
    with sessions() as session:
        query = select(CheckinPrompt).where(CheckinPrompt.subject_id == w.subject_id)
        return list(session.scalars(query.order_by(CheckinPrompt.scheduled_at)))


def _cycle(sessions: sessionmaker[Session], at: datetime) -> dict[str, int]:
    with transaction(sessions) as session:
        return service.run_cycle(session, now=at, config=CONFIG)


def test_each_day_gets_at_most_the_orders_count_inside_its_window_and_spaced(
    sessions: sessionmaker[Session],
) -> None:
    start = datetime.now(UTC) + timedelta(minutes=1)
    w = wearer(sessions, start=start)
    _cycle(sessions, start)
    _cycle(sessions, start + timedelta(minutes=5))  # a second pass adds nothing
    prompts = _prompts(sessions, w)
    by_plan: dict[object, list[CheckinPrompt]] = {}
    for prompt in prompts:
        by_plan.setdefault(prompt.plan_id, []).append(prompt)
    assert by_plan and all(len(day) <= 3 for day in by_plan.values())
    for day in by_plan.values():
        gaps = [b.scheduled_at - a.scheduled_at for a, b in itertools.pairwise(day)]
        assert all(gap >= timedelta(minutes=90) for gap in gaps)
        assert all(p.expires_at - p.scheduled_at == timedelta(minutes=15) for p in day)
        assert all(p.challenge in ("turn_left", "turn_right", "nod") for p in day)


def test_changing_the_order_redraws_the_prompts_not_yet_sent(
    sessions: sessionmaker[Session],
) -> None:
    start = datetime.now(UTC) + timedelta(minutes=1)
    w = wearer(sessions, start=start)
    _cycle(sessions, start)
    _update(sessions, w, checkins_per_day=1, waking_window_start=time(0, 0),
            waking_window_end=time(23, 59))
    _cycle(sessions, start + timedelta(minutes=1))
    prompts = _prompts(sessions, w)
    with sessions() as session:
        plans = list(session.scalars(select(CheckinPlan).where(
            CheckinPlan.subject_id == w.subject_id)))
    assert all(plan.params["count"] == 1 for plan in plans)
    for plan in plans:
        live = [p for p in prompts if p.plan_id == plan.id and p.status != PromptStatus.cancelled]
        assert len(live) <= 1
    assert any(p.status == PromptStatus.cancelled and p.reason == "order_changed"
               for p in prompts)


def _tomorrows_prompts(sessions: sessionmaker[Session], w: Wearer,
                       start: datetime) -> list[CheckinPrompt]:
    _update(sessions, w, checkins_per_day=5, waking_window_start=time(0, 0),
            waking_window_end=time(23, 59))
    _cycle(sessions, start)
    later = [p for p in _prompts(sessions, w) if p.status == PromptStatus.scheduled]
    assert later and all(p.scheduled_at > start for p in later)
    return later


def _feed_rules(sessions: sessionmaker[Session], w: Wearer, at: datetime) -> list[dict[str, str]]:
    with sessions() as session:
        messages = list(session.scalars(select(OutboxMessage).where(
            OutboxMessage.subject == f"openem.checkins.{w.subject_id}")))
    w.clock.now = at
    for message in messages:
        w.worker.handle(message.subject, message.payload)
    return [json.loads(m.payload) for m in messages]


def test_an_unanswered_delivered_prompt_is_missed_and_reaches_the_rules(
    sessions: sessionmaker[Session],
) -> None:
    start = datetime.now(UTC) + timedelta(minutes=1)
    w = wearer(sessions, start=start)
    prompt = _tomorrows_prompts(sessions, w, start)[0]
    _cycle(sessions, prompt.scheduled_at)
    assert [i.kind for i in w.inbox() if i.kind == "prompt"] == ["prompt"]
    item = next(i for i in w.inbox() if i.kind == "prompt")
    assert item.payload["prompt_id"] == str(prompt.id)
    assert item.payload["challenge"] == prompt.challenge
    with transaction(sessions) as session:  # the watch fetched its inbox
        inbox.pending(session, device_id=w.device_id, subject_id=w.subject_id,
                      now=prompt.scheduled_at)
    _cycle(sessions, prompt.expires_at)
    events = _feed_rules(sessions, w, prompt.expires_at)
    assert [(e["outcome"], e["reason"]) for e in events] == [("missed", "no_response")]
    assert AlertType.checkin_missed in {a.type for a in w.alerts()}


def test_a_prompt_never_delivered_is_technical_not_missed(
    sessions: sessionmaker[Session],
) -> None:
    start = datetime.now(UTC) + timedelta(minutes=1)
    w = wearer(sessions, start=start)
    prompt = _tomorrows_prompts(sessions, w, start)[0]
    _cycle(sessions, prompt.scheduled_at)  # in the inbox, but the watch never fetched it
    _cycle(sessions, prompt.expires_at)
    events = _feed_rules(sessions, w, prompt.expires_at)
    assert [(e["outcome"], e["reason"]) for e in events] == [("technical", "prompt_not_delivered")]
    types = {a.type for a in w.alerts()}
    assert AlertType.checkin_technical in types
    assert AlertType.checkin_missed not in types


def test_an_answer_received_but_never_decided_is_technical_not_missed(
    sessions: sessionmaker[Session],
) -> None:
    start = datetime.now(UTC) + timedelta(minutes=1)
    w = wearer(sessions, start=start)
    prompt = _tomorrows_prompts(sessions, w, start)[0]
    _cycle(sessions, prompt.scheduled_at)
    with transaction(sessions) as session:  # fetched, answered, then the server failed
        inbox.pending(session, device_id=w.device_id, subject_id=w.subject_id,
                      now=prompt.scheduled_at)
        row = session.get(CheckinPrompt, prompt.id)
        assert row is not None
        row.answered_at = prompt.scheduled_at + timedelta(minutes=2)
    _cycle(sessions, prompt.expires_at)
    events = _feed_rules(sessions, w, prompt.expires_at)
    assert [(e["outcome"], e["reason"]) for e in events] == [("technical", "answer_not_decided")]


def test_schedule_now_adds_one_prompt_due_now_and_leaves_the_day_plan_alone(
    sessions: sessionmaker[Session],
) -> None:
    from zoneinfo import ZoneInfo

    from openem.checkins import schedule

    start = datetime.now(UTC) + timedelta(minutes=1)
    w = wearer(sessions, start=start)
    order_id = _order_id(sessions, w)
    with transaction(sessions) as session:
        extra = service.schedule_now(session, order_id=order_id, now=start, config=CONFIG)
        extra_id = extra.id
    with sessions() as session:
        prompt = session.get(CheckinPrompt, extra_id)
        assert prompt is not None
        assert (prompt.scheduled_at, prompt.status) == (start, PromptStatus.scheduled)
        assert prompt.expires_at - prompt.scheduled_at == timedelta(minutes=15)
        plan = session.get(CheckinPlan, prompt.plan_id)
        order = session.get(Order, order_id)
        assert plan is not None and order is not None
        seed = service.seed_of(session, order=order, now=start)
        params = schedule.ScheduleParams(**plan.params)
        planned = schedule.prompt_times(seed=seed, order_id=order_id, day=plan.local_date,
                                        params=params)
        assert plan.local_date == start.astimezone(ZoneInfo(plan.params["timezone"])).date()
    others = [p.scheduled_at for p in _prompts(sessions, w)
              if p.plan_id == plan.id and p.id != extra_id]
    assert set(others) <= set(planned)  # the day's reproducible times, untouched
    assert _cycle(sessions, start + timedelta(seconds=5))["issued"] == 1
    assert [i.payload["prompt_id"] for i in w.inbox() if i.kind == "prompt"] == [str(extra_id)]
