"""`openem bench ingest-paired`: one ingest phase of two checkouts of OpenEM, compared round
by round on the same host.

The host is shared and its speed moves by tens of per cent within minutes, more than most
changes to the telemetry path. So both servers run at once, each on its own fresh
database, and the load (the same generators, from this checkout) goes to one and then the
other, the order swapped every round. A change shows as the median of the per-round ratios
``end / start``, which the host's drift mostly cancels out of.

Both checkouts must have the same migrations: the databases are set up with this one's.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from pathlib import Path
from typing import Any

from openem.bench_common import machine
from openem.db import migrate
from openem.ingest import bench

MIGRATIONS = Path("openem") / "db" / "migrations" / "versions"
MODES = {"single": (1, 32), "batch": (bench.BATCH_SIZE, 8)}  # fixes a request, connections
ROUND_SEQS = 200_000  # sequence numbers a round may use, per device


class DifferentSchemas(ValueError):
    """The two checkouts' migrations differ: one database setup cannot serve both."""


def _migrations(checkout: Path) -> list[str]:
    return sorted(path.name for path in (checkout / MIGRATIONS).glob("*.py"))


def _database(folder: Path, name: str, postgresql: bool) -> str:
    if not postgresql:
        return f"sqlite:///{folder / f'{name}.db'}"
    url = f"{bench.LOCAL_POSTGRES}_{name}"
    if not bench._fresh_postgres(url):
        raise RuntimeError("no PostgreSQL server answers at 127.0.0.1:5432")
    return url


def run_paired(
    *, start: Path, end: Path, postgresql: bool, mode: str, rounds: int, seconds: float,
    devices: int = bench.CLOSED_LOOP_DEVICES,
) -> dict[str, Any]:
    """Per-round fixes/s and server CPU per fix of ``start``'s and ``end``'s servers, and
    the medians of their per-round ratios."""
    for checkout in (start, end):
        if not _migrations(checkout):
            raise DifferentSchemas(f"no OpenEM checkout at {checkout}")
    if _migrations(start) != _migrations(end):
        raise DifferentSchemas("the two checkouts have different migrations")
    batch_size, connections = MODES[mode]
    checkouts = {"start": start.resolve(), "end": end.resolve()}
    rounds_run: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as servers:
        running = {}
        for name, checkout in checkouts.items():
            url = _database(Path(folder), name, postgresql)  # fresh: nothing to refuse
            migrate.upgrade(url)
            fleet = bench._devices(url, devices)
            server = servers.enter_context(
                bench._server(url, bench._free_port(), 2, pythonpath=checkout)
            )
            running[name] = (server, fleet)
        for index in range(rounds):
            order = ["start", "end"] if index % 2 == 0 else ["end", "start"]
            for name in order:
                server, fleet = running[name]
                phase = bench._load(
                    server, fleet, mode=mode, seconds=seconds, concurrency=connections,
                    batch_size=batch_size, processes=2, seq_start=1 + index * ROUND_SEQS,
                )
                rounds_run[name].append({"fixes_per_s": phase["items_per_s"],
                                         "server_cpu_ms_per_fix": phase["server_cpu_ms_per_item"],
                                         "failed": phase["failed"]})
    return _report(rounds_run, mode=mode, postgresql=postgresql)


def _report(
    rounds_run: dict[str, list[dict[str, float]]], *, mode: str, postgresql: bool
) -> dict[str, Any]:
    def each(name: str, key: str) -> list[float]:
        return [round(r[key], 4) for r in rounds_run[name]]

    figures: dict[str, Any] = {}
    for key in ("fixes_per_s", "server_cpu_ms_per_fix"):
        starts, ends = each("start", key), each("end", key)
        figures[f"start_{key}"] = starts
        figures[f"end_{key}"] = ends
        figures[f"end_to_start_{key}_median"] = round(
            statistics.median(e / s for s, e in zip(starts, ends, strict=True)), 4
        )
    figures["failed_requests"] = sum(r["failed"] for runs in rounds_run.values() for r in runs)
    return {
        "name": "ingest-paired",
        "machine": machine(),
        "database": "postgresql" if postgresql else "sqlite",
        "mode": mode,
        "figures": figures,
        "targets": {},
    }


def this_checkout() -> Path:
    """The checkout this process runs from (its ``openem`` package's parent)."""
    return Path(bench.__file__).resolve().parents[2]
