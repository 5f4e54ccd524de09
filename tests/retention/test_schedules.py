"""Retention schedules: six years by default (telemetry that names nobody: thirty days),
shorter by choice, never zero or over the maximum."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from openem.config import Settings
from openem.errors import Invalid
from openem.retention.schedules import CLASS_NAMES, DEFAULT_DAYS, build_schedules


def test_every_class_about_a_subject_defaults_to_six_years() -> None:
    schedules = build_schedules(overrides={}, max_days=DEFAULT_DAYS)
    assert set(schedules) == set(CLASS_NAMES)
    unattributed = schedules.pop("unattributed_telemetry")
    assert {s.days for s in schedules.values()} == {DEFAULT_DAYS}
    assert schedules["positions"].event == "order_end"
    assert schedules["audit_trail"].event == "recorded"
    assert (unattributed.days, unattributed.event) == (30, "recorded")


def test_a_class_can_be_shortened() -> None:
    schedules = build_schedules(overrides={"positions": 365}, max_days=DEFAULT_DAYS)
    assert schedules["positions"].days == 365 and schedules["identity"].days == DEFAULT_DAYS


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"positions": 0}, "at least one day"),
        ({"positions": -5}, "at least one day"),
        ({"positions": 5000}, "over the deployment maximum"),
        ({"horoscopes": 10}, "unknown data class"),
        ({"identity": 100}, "identity must be kept at least as long"),
    ],
)
def test_bad_periods_are_refused_clearly(overrides: dict[str, int], message: str) -> None:
    with pytest.raises(Invalid, match=message):
        build_schedules(overrides=overrides, max_days=DEFAULT_DAYS)


@pytest.mark.parametrize("days", [0, 3000])
def test_settings_refuse_zero_or_over_the_maximum(days: int) -> None:
    with pytest.raises(ValidationError, match="retention for positions"):
        Settings(retention_days={"positions": days})


def test_a_deployment_maximum_below_six_years_caps_the_default() -> None:
    schedules = build_schedules(overrides={}, max_days=1000)
    assert {s.days for s in schedules.values()} == {1000, 30}
    assert build_schedules(overrides={}, max_days=20)["unattributed_telemetry"].days == 20
