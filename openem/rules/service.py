"""Entry points of the rules: one telemetry batch, one check-in outcome, both idempotent.

Each runs in the caller's transaction; a batch whose items were all taken before
(the bus delivered it again) changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openem.alerts import raising
from openem.alerts.types import AlertType
from openem.rules import state as rule_state
from openem.rules.checkin_rules import evaluate_outcome
from openem.rules.config import RulesConfig
from openem.rules.device_rules import evaluate_events
from openem.rules.zone_rules import FixIn, ZoneIndexCache, evaluate_fixes


def process_telemetry(
    session: Session,
    *,
    event: dict[str, Any],
    now: datetime,
    config: RulesConfig,
    cache: ZoneIndexCache,
) -> int:
    """Evaluate one ``openem.telemetry.<device_id>`` batch; returns the items taken."""
    if not event.get("subject_id"):
        return 0
    subject_id = uuid.UUID(str(event["subject_id"]))
    device_id = uuid.UUID(str(event["device_id"]))
    received_at = datetime.fromisoformat(str(event["received_at"]))
    items = list(event.get("items", []))
    fresh = rule_state.unprocessed(session, device_id=device_id,
                                   seqs=[int(i["seq"]) for i in items], now=now)
    items = [i for i in items if int(i["seq"]) in fresh]
    if not items:
        return 0
    fixes = [
        FixIn(device_id, int(i["seq"]), datetime.fromisoformat(i["ts"]), float(i["lat"]),
              float(i["lon"]), i.get("accuracy_m"), bool(i.get("flags")), received_at)
        for i in items
        if i["type"] == "position"
    ]
    _contact(session, subject_id=subject_id, device_id=device_id, fixes=fixes,
             received_at=received_at, now=now)
    evaluate_fixes(session, subject_id=subject_id, device_id=device_id,
                   fixes=sorted(fixes, key=lambda f: (f.at, f.seq)), now=now, config=config,
                   cache=cache)
    evaluate_events(session, subject_id=subject_id, device_id=device_id,
                    items=[i for i in items if i["type"] != "position"], now=now, config=config)
    return len(items)


def process_checkin(
    session: Session, *, event: dict[str, Any], now: datetime, config: RulesConfig
) -> None:
    """Evaluate one ``openem.checkins.<subject_id>`` outcome."""
    evaluate_outcome(session, event=event, now=now, config=config)


def _contact(
    session: Session, *, subject_id: uuid.UUID, device_id: uuid.UUID, fixes: list[FixIn],
    received_at: datetime, now: datetime,
) -> None:
    """The device is heard again: a silent-device alert ends; a good fix ends signal loss."""
    good = [f.at for f in fixes if not f.flagged]
    wanted = (AlertType.device_silent, AlertType.signal_loss) if good else AlertType.device_silent
    while (alert := raising.ongoing(session, subject_id=subject_id, alert_type=wanted,
                                    device_id=device_id)) is not None:
        ended = received_at if alert.type == AlertType.device_silent else max(good)
        raising.end_alert(session, alert=alert, ended_at=ended, now=now)
