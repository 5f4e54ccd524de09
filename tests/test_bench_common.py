"""Every benchmark's machine line says how fast the shared host ran when it measured."""

from __future__ import annotations

from openem.bench_common import loop_seconds, machine


def test_the_machine_line_has_the_hosts_speed_and_load() -> None:
    line = machine()
    assert line["cpus"] >= 1
    assert line["loop_10m_s"] > 0
    assert line["load_average_1m"] >= 0


def test_the_speed_reading_grows_with_the_work() -> None:
    assert loop_seconds(100_000) < loop_seconds(10_000_000)
