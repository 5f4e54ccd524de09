"""Check-in outcomes (from the check-in domain, on ``openem.checkins.<subject_id>``).

``missed`` and ``failed`` (face no-match, liveness failure) each raise a compliance
alert for a person to review; ``technical`` raises a technical one; repeated
misses or failures within a window raise one more, which a pass ends. The
decision id is the idempotency key.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openem.rules import state as rule_state
from openem.rules.config import RulesConfig
from openem.rules.findings import AlertType, Evidence, Finding
from openem.rules.sink import AlertSink

CHECKINS_SUBJECT = "openem.checkins"
BY_OUTCOME = {
    "missed": AlertType.checkin_missed,
    "failed": AlertType.checkin_failed,
    "technical": AlertType.checkin_technical,
}


def evaluate_outcome(
    session: Session, *, event: dict[str, Any], now: datetime, config: RulesConfig,
    sink: AlertSink,
) -> None:
    subject_id = uuid.UUID(str(event["subject_id"]))
    decision_id = str(event["decision_id"])
    outcome = str(event["outcome"])
    at = datetime.fromisoformat(str(event["at"]))
    evidence = (Evidence.decision(decision_id=decision_id, at=at),)
    detail = {"prompt_id": str(event.get("prompt_id")), "reason": event.get("reason")}
    alert_type = BY_OUTCOME.get(outcome)
    if alert_type is not None:
        sink.raise_condition(session, Finding(
            subject_id=subject_id, alert_type=alert_type, key=decision_id, started_at=at,
            ended_at=at, evidence=evidence, detail=detail,
        ), now=now)
    _repeats(session, subject_id=subject_id, decision_id=decision_id, outcome=outcome, at=at,
             now=now, config=config, sink=sink)


def _repeats(
    session: Session, *, subject_id: uuid.UUID, decision_id: str, outcome: str, at: datetime,
    now: datetime, config: RulesConfig, sink: AlertSink,
) -> None:
    state = rule_state.load(session, subject_id=subject_id, rule="checkin", key="failures")
    failures: list[list[str]] = list(state.get("failures", []))
    ongoing = sink.ongoing(session, subject_id=subject_id,
                           alert_types=(AlertType.checkin_repeated_failures,))
    if outcome == "passed":
        if ongoing is not None:
            sink.end(session, condition=ongoing, ended_at=at, now=now,
                     evidence=[Evidence.decision(decision_id=decision_id, at=at)])
        failures = [f for f in failures if datetime.fromisoformat(f[1]) > at]
    elif outcome in ("missed", "failed") and decision_id not in {f[0] for f in failures}:
        failures.append([decision_id, at.isoformat()])
    failures = sorted(
        (f for f in failures if datetime.fromisoformat(f[1]) > at - config.checkin_repeat_window),
        key=lambda f: f[1],
    )
    rule_state.save(session, subject_id=subject_id, rule="checkin", key="failures",
                    data={"failures": failures}, now=now)
    if outcome not in ("missed", "failed") or len(failures) < config.checkin_repeat_count:
        return
    evidence = tuple(
        Evidence.decision(decision_id=d, at=datetime.fromisoformat(t)) for d, t in failures
    )
    if ongoing is None:
        sink.raise_condition(session, Finding(
            subject_id=subject_id, alert_type=AlertType.checkin_repeated_failures,
            key=failures[0][0], started_at=datetime.fromisoformat(failures[0][1]),
            evidence=evidence, detail={"count": len(failures)},
        ), now=now)
    else:
        sink.sustain(session, condition=ongoing, evidence=evidence, now=now)
