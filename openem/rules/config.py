"""The rules' tunables, taken from the settings once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from openem.config import Settings
from openem.rules.hysteresis import HysteresisPolicy


@dataclass(frozen=True)
class RulesConfig:
    policy: HysteresisPolicy = field(default_factory=HysteresisPolicy)
    late_after: timedelta = timedelta(minutes=5)
    replay: timedelta = timedelta(days=7)
    signal_loss: timedelta = timedelta(minutes=20)
    device_silent: timedelta = timedelta(minutes=30)
    removal_leeway: timedelta = timedelta(minutes=30)
    battery_warning_levels: tuple[int, ...] = (30, 15, 5)
    battery_alert_level: int = 5
    checkin_repeat_count: int = 3
    checkin_repeat_window: timedelta = timedelta(hours=24)
    violation_fix_interval_s: int = 15
    escalation_minutes: tuple[int, ...] = (5, 15, 60, 240)

    @classmethod
    def from_settings(cls, settings: Settings) -> RulesConfig:
        return cls(
            policy=HysteresisPolicy(
                open_after_fixes=settings.rules_open_after_fixes,
                open_after_minutes=settings.rules_open_after_minutes,
                close_after_fixes=settings.rules_close_after_fixes,
                close_after_minutes=settings.rules_close_after_minutes,
            ),
            late_after=timedelta(minutes=settings.rules_late_after_minutes),
            replay=timedelta(days=settings.rules_replay_days),
            signal_loss=timedelta(minutes=settings.rules_signal_loss_minutes),
            device_silent=timedelta(minutes=settings.rules_device_silent_minutes),
            removal_leeway=timedelta(minutes=settings.rules_removal_leeway_minutes),
            battery_warning_levels=tuple(sorted(settings.rules_battery_warning_levels,
                                                reverse=True)),
            battery_alert_level=settings.rules_battery_alert_level,
            checkin_repeat_count=settings.rules_checkin_repeat_count,
            checkin_repeat_window=timedelta(hours=settings.rules_checkin_repeat_hours),
            violation_fix_interval_s=settings.rules_violation_fix_interval_s,
            escalation_minutes=tuple(settings.alerts_escalation_minutes),
        )
