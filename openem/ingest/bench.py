"""`openem bench ingest`: the real server, driven by separate signing load-generator processes.

Figures per backend: batch-mode fixes/s and the raw insert rate of the same rows in the
same run (ratio), single-fix requests/s with p50/p99 against a no-op POST ceiling on the
same server, and p99 latency at the national load (3,300 fixes/s) in batch mode.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, cast

import httpx
import psycopg
from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from openem.access.principal import SYSTEM
from openem.app import create_app
from openem.bench_common import machine, percentile, refuse_real_subjects, target
from openem.db import migrate
from openem.db.bulk import driver_rows
from openem.db.engine import is_sqlite, make_engine
from openem.db.session import make_session_factory
from openem.devices import pairing
from openem.devices import service as devices_service
from openem.devices.schemas import DeviceCreate
from openem.ingest.service import POSITIONS
from openem.sim.signer import generate_device_key_pair
from openem.subjects import assessments
from openem.subjects import service as subjects_service
from openem.subjects.models import DeviceKind, ImmigrationStatus, Order
from openem.subjects.schemas import Conviction, OrderCreate, SubjectCreate

NATIONAL_FIXES_PER_S = 3_300
BATCH_SIZE = 60
# Single-fix requests offered open loop at this share of the closed-loop rate, for a
# latency that is not just connections divided by throughput.
PACED_SHARE = 0.8
# Devices (and connections) of the closed-loop phases, and of the open-loop single-fix
# phase. There each device uploads about every 150 ms (a real one, once a minute): with
# the closed loop's 64, each would upload every 20 ms, sooner than the server answers,
# and wait for its own previous upload, which counted as the server's latency.
CLOSED_LOOP_DEVICES = 64
PACED_DEVICES = 512


def create_bench_app() -> FastAPI:
    """The production app plus a no-op POST route, to measure the framework's ceiling."""
    app = create_app()

    @app.post("/bench/noop", include_in_schema=False)
    async def noop() -> dict[str, bool]:
        return {"ok": True}

    # Tried first, as the device routes are: the ceiling must not include the cost of
    # matching every other route of the application first.
    app.router.routes.insert(0, app.router.routes.pop())
    return app


def _devices(database_url: str, count: int) -> list[dict[str, str]]:
    """Paired devices, each fitted to its own subject on an order, as every device sending
    fixes in service is: the figures include looking up whose the fixes are."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    now = datetime.now(UTC)
    run = time.time_ns()
    devices = []
    with sessions() as session, session.begin():
        assessments.approve_every_cohort_for_fictional_data(session, now=now)
        for index in range(count):
            device = devices_service.register_device(
                session, principal=SYSTEM,
                data=DeviceCreate(kind="fitted_tag", serial=f"BENCH-{run}-{index}"),
            )
            code = pairing.issue_pairing_code(
                session, principal=SYSTEM, device_id=device.id, now=now
            ).code
            keys = generate_device_key_pair(device_id=str(device.id))
            pairing.pair_device(
                session, serial=device.serial, code=code, public_key=keys.public_key_raw(), now=now
            )
            order = _order(session, reference=f"B{run % 10**9}{index:05d}", now=now)
            # Fitted before the oldest fix of the first upload (ingest drops what came before).
            devices_service.assign_device(session, principal=SYSTEM, device_id=device.id,
                                          order_id=order.id, now=now - FITTED_BEFORE)
            devices.append(
                {
                    "id": str(device.id),
                    "subject_id": str(order.subject_id),
                    "order_id": str(order.id),
                    "private_key": base64.b64encode(keys.private_key_raw()).decode(),
                }
            )
    engine.dispose()
    return devices


FITTED_BEFORE = timedelta(hours=1)


def _order(session: Session, *, reference: str, now: datetime) -> Order:
    """A fictional subject's order for a fitted tag, keeping the full trail."""
    subject = subjects_service.create_subject(session, principal=SYSTEM, data=SubjectCreate(
        given_name="Bench", family_name="Fictional", date_of_birth=date(1980, 1, 1),
        nationality="GBR", home_office_reference=reference,
    ))
    subject.fictional = True
    return subjects_service.create_order(session, principal=SYSTEM, data=OrderCreate(
        subject_id=subject.id, legal_basis_reference="bench",
        conviction=Conviction(offence="bench", court="bench", conviction_date=date(2020, 1, 1)),
        immigration_status=ImmigrationStatus.deportation_order, device_kind=DeviceKind.fitted_tag,
        starts_at=now - 2 * FITTED_BEFORE, ends_at=now + timedelta(days=30), checkins_per_day=0,
    ))


@dataclass(frozen=True)
class Server:
    """The benchmarked server: its address, and the CPU its processes have used."""

    base: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its worker processes (Linux ``/proc``; NaN
        elsewhere)."""
        try:
            total = 0.0
            for stat in Path("/proc").glob("[0-9]*/stat"):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    pid, fields = _proc_stat(stat)
                    if pid == self.pid or int(fields[1]) == self.pid:
                        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            return total
        except OSError:
            return math.nan


def _proc_stat(path: Path) -> tuple[int, list[str]]:
    """A process's id and the fields after its name (state, ppid, ...)."""
    text = path.read_text()
    return int(text.split(" ", 1)[0]), text.rsplit(")", 1)[1].split()


@contextmanager
def _server(
    database_url: str, port: int, workers: int, *, pythonpath: Path | None = None
) -> Iterator[Server]:
    """The server on ``port``; with ``pythonpath``, the OpenEM checkout there."""
    # An ingest node: the outbox relay (part of ingest's delivery guarantee) runs, the
    # downstream consumers and schedulers run in their own processes in a national
    # deployment (docs/rules.md) and are measured by their own benchmarks.
    env = os.environ | {
        "OPENEM_DATABASE_URL": database_url,
        "OPENEM_BUS_URL": "memory://",
        "OPENEM_RULES_WORKER": "false",
        "OPENEM_CHECKIN_SCHEDULER": "false",
        "OPENEM_PURGE_SCHEDULE": "false",
    }
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "openem.ingest.bench:create_bench_app",
        "--factory",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = Server(f"http://127.0.0.1:{port}", process.pid)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


# Requests per second each closed-loop phase is expected to reach at most, to sign
# ahead; beyond that the generators sign on the fly (slower, still correct).
PREPARE_PER_S = {"noop": 4_000.0, "single": 3_000.0, "batch": 250.0}


def _load(
    server: Server,
    devices: list[dict[str, str]],
    *,
    mode: str,
    seconds: float,
    concurrency: int,
    batch_size: int,
    processes: int,
    seq_start: int,
    rate_per_s: float | None = None,
) -> dict[str, Any]:
    share = len(devices) // processes
    prepare_per_s = 1.05 * rate_per_s if rate_per_s else PREPARE_PER_S[mode]
    running = []
    for index in range(processes):
        plan = {
            "base_url": server.base,
            "mode": mode,
            "seconds": seconds,
            "concurrency": concurrency,
            "devices": devices[index * share : (index + 1) * share],
            "batch_size": batch_size,
            "seq_start": seq_start,
            "rate_per_s": rate_per_s / processes if rate_per_s else None,
            "prepare_per_s": prepare_per_s / processes,
        }
        child = subprocess.Popen(
            [sys.executable, "-m", "openem.sim.loadgen"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert child.stdin is not None
        child.stdin.write(json.dumps(plan).encode() + b"\n")
        child.stdin.flush()
        running.append(child)
    for child in running:  # every generator has signed its requests: start together
        assert child.stdout is not None
        if child.stdout.readline().strip() != b"ready":
            raise RuntimeError("a load generator failed to start")
    cpu_before = server.cpu_seconds()
    for child in running:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        child.stdin.close()
    results = []
    for child in running:
        assert child.stdout is not None
        with child.stdout:
            results.append(json.loads(child.stdout.read()))
        child.wait()
    server_cpu = server.cpu_seconds() - cpu_before
    latencies = sorted(lat for result in results for lat in result["latencies"])
    lateness = sorted(late for result in results for late in result["lateness"])
    elapsed = max(result["elapsed"] for result in results)
    requests, items = sum(r["ok"] for r in results), sum(r["items"] for r in results)
    return {
        "requests_per_s": requests / elapsed,
        "items_per_s": items / elapsed,
        "server_cpu_ms_per_request": 1000 * server_cpu / max(requests, 1),
        "server_cpu_ms_per_item": 1000 * server_cpu / max(items, 1),
        # The generators share the machine with the server: their CPU is not the server's.
        "loadgen_cpu_ms_per_request": 1000 * sum(r["cpu_s"] for r in results) / max(requests, 1),
        "failed": sum(r["failed"] for r in results),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "late_p99_ms": percentile(lateness, 99) * 1000 if lateness else 0.0,
    }


IDS = ("device_id", "subject_id", "order_id")
RAW_SEQ_START = 10_000_000  # above every sequence number the load phases send


def _raw_rows(device: dict[str, str], count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "device_id": device["id"],
            "subject_id": device["subject_id"],
            "order_id": device["order_id"],
            "seq": RAW_SEQ_START + i,
            "fixed_at": now,
            "received_at": now,
            "lat": 51.5,
            "lon": -0.12,
            "accuracy_m": 8.0,
            "source": "gnss",
            "flags": "",
        }
        for i in range(count)
    ]


def raw_insert_rate(database_url: str, device: dict[str, str], rows: int) -> float:
    """Rows/s for the same rows put in from Python objects (COPY row by row on PostgreSQL,
    SQLAlchemy ``executemany`` on SQLite), converting them inside the timed section."""
    engine = make_engine(database_url)
    data = _raw_rows(device, rows)
    columns = list(data[0])
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS raw_bench_positions"))
            connection.execute(
                text("CREATE TABLE raw_bench_positions AS SELECT * FROM positions WHERE 1 = 0")
            )
        started = time.perf_counter()
        if is_sqlite(database_url):
            placeholders = ", ".join(f":{c}" for c in columns)
            with engine.begin() as connection:
                connection.execute(
                    text(
                        f"INSERT INTO raw_bench_positions ({', '.join(columns)}) "
                        f"VALUES ({placeholders})"
                    ),
                    data,
                )
        else:
            _copy_rows(engine, columns, data)
        elapsed = time.perf_counter() - started
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE raw_bench_positions"))
    finally:
        engine.dispose()
    return rows / elapsed


def _copy_rows(engine: Engine, columns: list[str], data: list[dict[str, Any]]) -> None:
    raw = engine.raw_connection()
    try:
        connection = cast(psycopg.Connection[Any], raw.driver_connection)
        statement = f"COPY raw_bench_positions ({', '.join(columns)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in data:
                copy.write_row([row[c] for c in columns])
        connection.commit()
    finally:
        raw.close()


def _wire_text(value: Any) -> str:
    if value is None:
        return "\\N"
    return value.isoformat() if isinstance(value, datetime) else str(value)


def preformatted_insert_rate(
    database_url: str, device: dict[str, str], rows: int, *, indexed: bool = False
) -> float:
    """Rows/s for the same rows put straight in by the fastest means the database offers:
    already in its own input form before the clock starts (COPY text on PostgreSQL,
    driver-ready tuples for one ``executemany`` transaction on SQLite). Into a bare copy
    of the positions table, or with ``indexed`` into the positions table itself, with
    its keys, indexes and foreign key (the rows are deleted again afterwards)."""
    data = _raw_rows(device, rows)
    columns = list(data[0])
    table = "positions" if indexed else "raw_bench_positions"
    engine = make_engine(database_url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if not indexed:
            cursor.execute("DROP TABLE IF EXISTS raw_bench_positions")
            cursor.execute(
                "CREATE TABLE raw_bench_positions AS SELECT * FROM positions WHERE 1 = 0"
            )
            raw.commit()
        if is_sqlite(database_url):
            stored = [row | {key: uuid.UUID(row[key]) for key in IDS} for row in data]
            tuples = cast(list[tuple[Any, ...]], driver_rows("sqlite", POSITIONS, stored).values)
            started = time.perf_counter()
            cursor.execute("BEGIN")
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})",
                tuples,
            )
        else:
            text_rows = "".join(
                "\t".join(_wire_text(v) for v in row.values()) + "\n" for row in data
            ).encode()
            started = time.perf_counter()
            connection = cast(psycopg.Connection[Any], raw.driver_connection)
            statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            with connection.cursor() as copy_cursor, copy_cursor.copy(statement) as copy:
                copy.write(text_rows)
        raw.commit()
        elapsed = time.perf_counter() - started
        if indexed:
            cursor.execute(f"DELETE FROM positions WHERE seq >= {RAW_SEQ_START}")
        else:
            cursor.execute("DROP TABLE raw_bench_positions")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return rows / elapsed


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_backend(
    database_url: str,
    *,
    seconds: float,
    workers: int = 2,
    processes: int = 2,
    concurrency: int = 32,
) -> dict[str, float]:
    refuse_real_subjects(database_url, bench="ingest")
    migrate.upgrade(database_url)
    devices = _devices(database_url, PACED_DEVICES)
    figures: dict[str, float] = {}
    with _server(database_url, _free_port(), workers) as server:
        load = partial(
            _load, server, devices[:CLOSED_LOOP_DEVICES], seconds=seconds, processes=processes
        )
        ceiling = load(mode="noop", concurrency=concurrency, batch_size=0, seq_start=1)
        single = load(mode="single", concurrency=concurrency, batch_size=1, seq_start=1)
        paced = _load(
            server, devices, seconds=seconds, processes=processes, mode="single",
            concurrency=PACED_DEVICES // processes, batch_size=1, seq_start=500_000,
            rate_per_s=PACED_SHARE * single["requests_per_s"],
        )
        batch = load(mode="batch", concurrency=8, batch_size=BATCH_SIZE, seq_start=1_000_000)
        national = load(
            mode="batch", concurrency=8, batch_size=BATCH_SIZE, seq_start=5_000_000,
            rate_per_s=NATIONAL_FIXES_PER_S / BATCH_SIZE,
        )
    rows = max(10_000, int(batch["items_per_s"] * seconds))
    from_python = raw_insert_rate(database_url, devices[0], rows)
    raw = preformatted_insert_rate(database_url, devices[0], rows)
    indexed = preformatted_insert_rate(database_url, devices[0], rows, indexed=True)
    figures.update(
        {
            "noop_requests_per_s": ceiling["requests_per_s"],
            "noop_server_cpu_ms_per_request": ceiling["server_cpu_ms_per_request"],
            "noop_loadgen_cpu_ms_per_request": ceiling["loadgen_cpu_ms_per_request"],
            "single_requests_per_s": single["requests_per_s"],
            "single_server_cpu_ms_per_request": single["server_cpu_ms_per_request"],
            "single_loadgen_cpu_ms_per_request": single["loadgen_cpu_ms_per_request"],
            "single_p50_ms": single["p50_ms"],
            "single_p99_ms": single["p99_ms"],
            "single_ratio_to_ceiling": single["requests_per_s"] / ceiling["requests_per_s"],
            "single_paced_requests_per_s": paced["requests_per_s"],
            "single_paced_p50_ms": paced["p50_ms"],
            "single_paced_p99_ms": paced["p99_ms"],
            "single_paced_send_late_p99_ms": paced["late_p99_ms"],
            "batch_fixes_per_s": batch["items_per_s"],
            "batch_server_cpu_ms_per_fix": batch["server_cpu_ms_per_item"],
            "batch_p99_ms": batch["p99_ms"],
            "raw_insert_rows_per_s": raw,
            "batch_ratio_to_raw": batch["items_per_s"] / raw,
            "raw_indexed_rows_per_s": indexed,
            "batch_ratio_to_raw_indexed": batch["items_per_s"] / indexed,
            "raw_from_python_rows_per_s": from_python,
            "batch_ratio_to_raw_from_python": batch["items_per_s"] / from_python,
            "national_batch_fixes_per_s": national["items_per_s"],
            "national_batch_p99_ms": national["p99_ms"],
            "failed_requests": sum(
                phase["failed"] for phase in (single, paced, batch, national)
            ),
        }
    )
    return figures


def run_ingest_bench(*, database_urls: dict[str, str], seconds: float) -> dict[str, Any]:
    figures: dict[str, float] = {}
    targets: dict[str, dict[str, Any]] = {}
    for backend, url in database_urls.items():
        for name, value in bench_backend(url, seconds=seconds).items():
            figures[f"{backend}.{name}"] = round(value, 3)
        ratio_target = 0.3 if backend == "sqlite" else 0.15
        targets[f"{backend}.batch_ratio_to_raw"] = target(
            figures[f"{backend}.batch_ratio_to_raw"], ratio_target, ">="
        )
        targets[f"{backend}.single_requests_per_s"] = target(
            figures[f"{backend}.single_requests_per_s"], NATIONAL_FIXES_PER_S, ">="
        )
        targets[f"{backend}.single_p99_ms"] = target(figures[f"{backend}.single_p99_ms"], 250, "<=")
        targets[f"{backend}.single_paced_p99_ms"] = target(
            figures[f"{backend}.single_paced_p99_ms"], 250, "<="
        )
        targets[f"{backend}.single_ratio_to_ceiling"] = target(
            figures[f"{backend}.single_ratio_to_ceiling"], 0.3, ">="
        )
        targets[f"{backend}.national_batch_p99_ms"] = target(
            figures[f"{backend}.national_batch_p99_ms"], 250, "<="
        )
    return {"name": "ingest", "machine": machine(), "figures": figures, "targets": targets}


def default_database_urls(database_url: str | None) -> dict[str, str]:
    if database_url:
        return {"sqlite" if is_sqlite(database_url) else "postgresql": database_url}
    folder = Path(tempfile.mkdtemp(prefix="openem-bench-"))
    urls = {"sqlite": f"sqlite:///{folder / 'bench.db'}"}
    postgres = os.environ.get("OPENEM_BENCH_POSTGRES_URL", LOCAL_POSTGRES)
    if _fresh_postgres(postgres):
        urls["postgresql"] = postgres
    return urls


LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/openem_bench"


def _fresh_postgres(url: str) -> bool:
    """Recreate the benchmark database (PostGIS enabled); False when no server answers."""
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    name = parsed.database
    try:
        with psycopg.connect(
            admin.render_as_string(hide_password=False), autocommit=True, connect_timeout=3
        ) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')
        target_dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(target_dsn, autocommit=True) as connection:
            connection.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except psycopg.Error:
        return False
    return True
