"""Prompt schedules and the prompt lifecycle: plan, issue to the device inbox, expire.

Services take the session and ``now`` and never commit: the caller owns the
transaction (the periodic task in ``tasks.py``, or a test).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.biometrics.liveness import new_challenge
from openem.bus import outbox
from openem.checkins import schedule
from openem.checkins.config import CheckinConfig
from openem.checkins.models import (
    OPEN_STATUSES,
    CheckinDecision,
    CheckinPlan,
    CheckinPrompt,
    CheckinSeed,
    PromptStatus,
)
from openem.devices import inbox
from openem.devices.models import Device, InboxItem
from openem.subjects.models import DeviceKind, Order, OrderStatus, Subject

CHECKINS_SUBJECT = "openem.checkins"
MIN_FRAMES, MAX_FRAMES, MAX_ATTEMPTS = 3, 8, 3


def active_orders(session: Session, *, now: datetime) -> list[tuple[Order, Subject]]:
    """Active smartwatch orders that ask for check-ins, with their subjects."""
    query = (
        select(Order, Subject)
        .join(Subject, Subject.id == Order.subject_id)
        .where(
            Order.status == OrderStatus.active,
            Order.device_kind == DeviceKind.smartwatch,
            Order.checkins_per_day > 0,
            Order.starts_at <= now,
            Order.ends_at > now,
        )
    )
    return [(order, subject) for order, subject in session.execute(query)]


def params_of(order: Order, subject: Subject, config: CheckinConfig) -> schedule.ScheduleParams:
    return schedule.params_for(
        checkins_per_day=order.checkins_per_day,
        window_start=order.waking_window_start,
        window_end=order.waking_window_end,
        timezone=subject.timezone,
        spacing_minutes=config.spacing_minutes,
        response_minutes=config.response_minutes,
    )


def seed_of(session: Session, *, order: Order, now: datetime) -> str:
    stored = session.get(CheckinSeed, order.id)
    if stored is None:
        stored = CheckinSeed(
            order_id=order.id, subject_id=order.subject_id, seed=schedule.new_seed(), created_at=now
        )
        session.add(stored)
        session.flush()
    return stored.seed


def plan_day(
    session: Session, *, order: Order, subject: Subject, day: date, now: datetime,
    config: CheckinConfig,
) -> CheckinPlan:
    """The order's prompts for a local day; redrawn (future prompts only) if the order changed."""
    params = params_of(order, subject, config)
    plan = session.scalars(
        select(CheckinPlan).where(CheckinPlan.order_id == order.id, CheckinPlan.local_date == day)
    ).one_or_none()
    if plan is not None and plan.fingerprint == params.fingerprint():
        return plan
    if plan is None:
        plan = CheckinPlan(order_id=order.id, subject_id=order.subject_id, local_date=day,
                           params=params.as_dict(), fingerprint=params.fingerprint(),
                           created_at=now)
        session.add(plan)
        session.flush()
    else:
        for prompt in _prompts_of(session, plan.id, PromptStatus.scheduled):
            prompt.status, prompt.reason, prompt.closed_at = (
                PromptStatus.cancelled, "order_changed", now,
            )
        plan.params, plan.fingerprint = params.as_dict(), params.fingerprint()
    seed = seed_of(session, order=order, now=now)
    response = timedelta(minutes=config.response_minutes)
    spacing = timedelta(minutes=config.spacing_minutes)
    kept = [p.scheduled_at for p in _prompts_of(session, plan.id, None)
            if p.status != PromptStatus.cancelled]
    for at in schedule.prompt_times(seed=seed, order_id=order.id, day=day, params=params):
        if len(kept) >= params.count:
            break
        if at <= now or not order.starts_at <= at < order.ends_at:
            continue
        if any(abs(at - other) < spacing for other in kept):
            continue
        kept.append(at)
        session.add(CheckinPrompt(
            plan_id=plan.id, order_id=order.id, subject_id=order.subject_id, scheduled_at=at,
            expires_at=at + response, challenge=new_challenge().value,
        ))
    session.flush()
    return plan


def schedule_now(
    session: Session, *, order_id: uuid.UUID, now: datetime, config: CheckinConfig,
) -> CheckinPrompt:
    """For demos and tests only: one extra prompt due at ``now`` (outside the random schedule
    and the waking window), sent by the next pass of the periodic task like any other.

    The day's normal plan is made first (``plan_day``), so its reproducible times are
    unchanged; the extra prompt is attached to that plan."""
    order = session.get(Order, order_id)
    subject = session.get(Subject, order.subject_id) if order is not None else None
    if order is None or subject is None:
        raise ValueError(f"no order {order_id}")
    day = now.astimezone(ZoneInfo(subject.timezone)).date()
    plan = plan_day(session, order=order, subject=subject, day=day, now=now, config=config)
    prompt = CheckinPrompt(
        plan_id=plan.id, order_id=order.id, subject_id=order.subject_id, scheduled_at=now,
        expires_at=now + timedelta(minutes=config.response_minutes),
        challenge=new_challenge().value,
    )
    session.add(prompt)
    session.flush()
    return prompt


def _prompts_of(
    session: Session, plan_id: uuid.UUID, status: str | None
) -> list[CheckinPrompt]:
    query = select(CheckinPrompt).where(CheckinPrompt.plan_id == plan_id)
    if status is not None:
        query = query.where(CheckinPrompt.status == status)
    return list(session.scalars(query))


def plan_all(session: Session, *, now: datetime, config: CheckinConfig) -> int:
    """Plan today and tomorrow (subject's local time) for every active order; returns plans."""
    planned = 0
    _cancel_inactive(session, now=now)
    for order, subject in active_orders(session, now=now):
        today = now.astimezone(ZoneInfo(subject.timezone)).date()
        for day in (today, today + timedelta(days=1)):
            plan_day(session, order=order, subject=subject, day=day, now=now, config=config)
            planned += 1
    return planned


def _cancel_inactive(session: Session, *, now: datetime) -> None:
    """Planned prompts of orders no longer active (ended, suspended, changed kind) are dropped."""
    active = {order.id for order, _ in active_orders(session, now=now)}
    query = select(CheckinPrompt).where(CheckinPrompt.status == PromptStatus.scheduled)
    for prompt in session.scalars(query):
        if prompt.order_id not in active:
            prompt.status, prompt.reason, prompt.closed_at = (
                PromptStatus.cancelled, "order_inactive", now,
            )


def _device_for(session: Session, order_id: uuid.UUID) -> Device | None:
    query = select(Device).where(Device.order_id == order_id, Device.kind == DeviceKind.smartwatch)
    return session.scalars(query.limit(1)).first()


def prompt_payload(prompt: CheckinPrompt) -> dict[str, object]:
    return {
        "prompt_id": str(prompt.id),
        "challenge": prompt.challenge,
        "scheduled_at": prompt.scheduled_at.isoformat(),
        "expires_at": prompt.expires_at.isoformat(),
        "max_attempts": MAX_ATTEMPTS,
        "frames": {"min": MIN_FRAMES, "max": MAX_FRAMES, "media_type": "image/jpeg"},
    }


def issue_due(session: Session, *, now: datetime) -> int:
    """Send prompts that are due to their device's inbox; returns how many were sent."""
    query = select(CheckinPrompt).where(
        CheckinPrompt.status == PromptStatus.scheduled, CheckinPrompt.scheduled_at <= now
    )
    issued = 0
    for prompt in session.scalars(query.order_by(CheckinPrompt.scheduled_at)):
        device = _device_for(session, prompt.order_id)
        if device is None or now >= prompt.expires_at:
            reason = "no_device" if device is None else "not_issued_in_time"
            close(session, prompt=prompt, outcome=PromptStatus.technical, reason=reason,
                  decision_id=None, at=prompt.expires_at if device else now, now=now)
            continue
        item = inbox.post(session, device_id=device.id, kind="prompt",
                          payload=prompt_payload(prompt), now=now)
        prompt.device_id, prompt.inbox_item_id = device.id, item.id
        prompt.status, prompt.issued_at = PromptStatus.issued, now
        issued += 1
    session.flush()
    return issued


def expire_due(session: Session, *, now: datetime) -> int:
    """Close prompts whose window has passed: failed, missed or technical."""
    query = select(CheckinPrompt).where(
        CheckinPrompt.status == PromptStatus.issued, CheckinPrompt.expires_at <= now
    )
    closed = 0
    for prompt in session.scalars(query.order_by(CheckinPrompt.expires_at)):
        outcome, reason, decision_id = _expired_outcome(session, prompt)
        close(session, prompt=prompt, outcome=outcome, reason=reason, decision_id=decision_id,
              at=prompt.expires_at, now=now)
        closed += 1
    session.flush()
    return closed


def _expired_outcome(
    session: Session, prompt: CheckinPrompt
) -> tuple[PromptStatus, str, uuid.UUID | None]:
    decisions = list(session.scalars(
        select(CheckinDecision).where(CheckinDecision.prompt_id == prompt.id)
        .order_by(CheckinDecision.attempt)
    ))
    findings = [d for d in decisions if d.outcome in ("no_match", "liveness_failed")]
    if findings:
        return PromptStatus.failed, findings[-1].outcome, findings[-1].id
    if decisions:  # answered, but no frame was usable: a capture problem, not non-compliance
        return PromptStatus.technical, "no_usable_frames", decisions[-1].id
    if prompt.answered_at is not None:  # an answer arrived but was never decided (a fault)
        return PromptStatus.technical, "answer_not_decided", None
    item = session.get(InboxItem, prompt.inbox_item_id) if prompt.inbox_item_id else None
    if item is None or item.delivered_at is None:
        return PromptStatus.technical, "prompt_not_delivered", None
    return PromptStatus.missed, "no_response", None


def close(
    session: Session, *, prompt: CheckinPrompt, outcome: PromptStatus, reason: str | None,
    decision_id: uuid.UUID | None, at: datetime, now: datetime,
) -> None:
    """Set the prompt's outcome and publish it for the rules (transactional outbox)."""
    prompt.status, prompt.reason, prompt.closed_at = outcome, reason, now
    event = {
        "subject_id": str(prompt.subject_id),
        "prompt_id": str(prompt.id),
        "outcome": outcome.value,
        "reason": reason,
        "decision_id": str(decision_id or prompt.id),
        "at": at.isoformat(),
    }
    outbox.enqueue(session, subject=f"{CHECKINS_SUBJECT}.{prompt.subject_id}",
                   msg_id=f"checkin:{prompt.id}:{outcome.value}:{decision_id or ''}", event=event)


def is_open(prompt: CheckinPrompt) -> bool:
    return prompt.status in OPEN_STATUSES


def run_cycle(session: Session, *, now: datetime, config: CheckinConfig) -> dict[str, int]:
    """One pass of the periodic task: plan, issue, expire."""
    return {
        "planned": plan_all(session, now=now, config=config),
        "issued": issue_due(session, now=now),
        "expired": expire_due(session, now=now),
    }
