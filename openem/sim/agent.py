"""One simulated wearer and device: moves through a day, drains a battery, uploads fixes."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from openem.sim.world import Life, Place, distance_m, offset

DRIVING_MPS = 12.0


@dataclass
class Leg:
    to: Place
    dwell_s: float


@dataclass
class Agent:
    serial: str
    device_id: str
    kind: str
    life: Life
    started: datetime
    rng: random.Random
    position: Place = field(init=False)
    battery: float = field(init=False)
    charging: bool = False
    seq: int = 1
    legs: list[Leg] = field(default_factory=list)
    dwell_until: datetime | None = None
    strap: str = "intact"
    fix_interval_s: float = 10.0
    upload_interval_s: float = 30.0
    pending: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.position = self._start()
        self.battery = float(self.life.scenario.battery_start)
        self.legs = self._plan()

    def _start(self) -> Place:
        """Where the demo finds the wearer: near the exclusion zone for the one who will
        walk into it, at home for everyone else."""
        if self.life.scenario.enters_exclusion:
            return offset(self.life.exclusion, north_m=self.life.exclusion_radius_m + 250, east_m=0)
        return self.life.home

    def _plan(self) -> list[Leg]:
        life, scenario = self.life, self.life.scenario
        if scenario.enters_exclusion:
            return [Leg(life.exclusion, 150), Leg(life.home, 300)]
        if scenario.out_after_curfew:
            return [Leg(life.errands[0], 900), Leg(life.home, 600)]
        stops = [life.work, *life.errands, life.home]
        self.rng.shuffle(stops)
        return [Leg(stop, self.rng.uniform(60, 240)) for stop in stops]

    def _elapsed(self, now: datetime) -> float:
        return (now - self.started).total_seconds()

    def _move(self, now: datetime, step_s: float) -> None:
        if self.dwell_until and now < self.dwell_until:
            return
        if not self.legs:
            self.legs = self._plan()
        leg = self.legs[0]
        remaining = distance_m(self.position, leg.to)
        travel = DRIVING_MPS * step_s
        if remaining <= travel:
            self.position = leg.to
            self.dwell_until = now + timedelta(seconds=leg.dwell_s)
            self.legs.pop(0)
            return
        fraction = travel / remaining
        self.position = Place(
            self.position.lat + (leg.to.lat - self.position.lat) * fraction,
            self.position.lon + (leg.to.lon - self.position.lon) * fraction,
        )

    def _noisy_fix(self) -> tuple[Place, float]:
        accuracy = self.rng.choice((5.0, 8.0, 12.0, 20.0)) if self.rng.random() > 0.05 else 150.0
        sigma = accuracy / 2
        return offset(
            self.position, north_m=self.rng.gauss(0, sigma), east_m=self.rng.gauss(0, sigma)
        ), accuracy

    def _item(self, kind: str, now: datetime, **fields: Any) -> dict[str, Any]:
        item = {"type": kind, "seq": self.seq, "ts": now.isoformat()} | fields
        self.seq += 1
        return item

    def _battery(self, now: datetime, step_s: float) -> None:
        at_home = distance_m(self.position, self.life.home) < self.life.home_radius_m
        self.charging = at_home and (self.battery < 25 or self.charging) and self.battery < 100
        rate = 0.5 if self.charging else -0.03
        self.battery = min(100.0, max(0.0, self.battery + rate * step_s))

    def tick(self, now: datetime, step_s: float) -> None:
        """Advance the world by ``step_s`` and queue what the device would record."""
        elapsed = self._elapsed(now)
        self._move(now, step_s)
        self._battery(now, step_s)
        if self.battery <= 0:
            return
        signal_lost = self.life.scenario.loses_signal and 30 <= elapsed <= 330
        if not signal_lost:
            fix, accuracy = self._noisy_fix()
            self.pending.append(
                self._item(
                    "position",
                    now,
                    lat=round(fix.lat, 7),
                    lon=round(fix.lon, 7),
                    accuracy_m=accuracy,
                    speed_mps=0.0 if self.dwell_until else DRIVING_MPS,
                    source="gnss",
                )
            )
        else:
            self.pending.append(self._item("heartbeat", now))
        if math.floor(elapsed / 60) != math.floor((elapsed - step_s) / 60):
            self.pending.append(
                self._item("battery", now, level=int(self.battery), charging=self.charging)
            )
        if (
            self.kind == "fitted_tag"
            and self.life.scenario.cuts_strap
            and self.strap == "intact"
            and elapsed >= 45
        ):
            self.strap = "cut"
            self.pending.append(self._item("strap", now, state="cut"))

    def take_batch(self) -> list[dict[str, Any]]:
        batch, self.pending = self.pending[:1000], self.pending[1000:]
        return batch

    def apply_config(self, payload: dict[str, Any]) -> None:
        self.fix_interval_s = float(payload.get("fix_interval_s", self.fix_interval_s))
        self.upload_interval_s = float(payload.get("upload_interval_s", self.upload_interval_s))
