"""The ingest benchmark runs end to end (real server, separate signing load generators)."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from openem.access.principal import SYSTEM
from openem.cli import app
from openem.db.engine import make_engine
from openem.devices import service as devices
from openem.devices.models import Device
from openem.devices.schemas import DeviceCreate
from openem.ingest.bench import preformatted_insert_rate, run_ingest_bench
from openem.locations.models import Position
from openem.subjects.models import Subject
from tests.support import factories

FIGURES = (
    "noop_requests_per_s", "single_requests_per_s", "single_p50_ms", "single_p99_ms",
    "single_ratio_to_ceiling", "single_paced_requests_per_s", "single_paced_p99_ms",
    "batch_fixes_per_s", "raw_insert_rows_per_s", "batch_ratio_to_raw",
    "raw_from_python_rows_per_s", "batch_ratio_to_raw_from_python",
    "raw_indexed_rows_per_s", "batch_ratio_to_raw_indexed",
    "noop_server_cpu_ms_per_request", "single_server_cpu_ms_per_request",
    "noop_loadgen_cpu_ms_per_request", "single_loadgen_cpu_ms_per_request",
    "batch_server_cpu_ms_per_fix",
    "national_batch_fixes_per_s", "national_batch_p99_ms",
)


def test_ingest_bench_prints_every_figure_with_its_target(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'bench.db'}"
    result = run_ingest_bench(database_urls={"sqlite": database_url}, seconds=0.5)
    figures = result["figures"]
    assert result["name"] == "ingest"
    for name in FIGURES:
        assert figures[f"sqlite.{name}"] > 0, name
    assert figures["sqlite.failed_requests"] == 0
    # Latency counts from when a request was due, so it includes any delay in sending it.
    late = figures["sqlite.single_paced_send_late_p99_ms"]
    assert 0 <= late <= figures["sqlite.single_paced_p99_ms"]
    ratio = figures["sqlite.batch_fixes_per_s"] / figures["sqlite.raw_insert_rows_per_s"]
    assert abs(figures["sqlite.batch_ratio_to_raw"] - ratio) < 0.002
    assert set(result["targets"]) >= {
        "sqlite.batch_ratio_to_raw", "sqlite.single_requests_per_s", "sqlite.single_p99_ms",
        "sqlite.national_batch_p99_ms", "sqlite.single_ratio_to_ceiling",
    }
    # Its devices serve orders, as in service: every fix it sent was kept as a subject's.
    engine = make_engine(database_url)
    with engine.connect() as connection:
        stored = connection.execute(
            select(func.count(), func.count(Position.subject_id), func.count(Position.order_id))
        ).one()
    engine.dispose()
    assert stored[0] >= figures["sqlite.batch_fixes_per_s"] * 0.5
    assert stored[0] == stored[1] == stored[2]


def test_the_raw_insert_into_the_positions_table_leaves_it_as_it_was(
    database_url: str, session: Session
) -> None:
    device = devices.register_device(
        session, principal=SYSTEM, data=DeviceCreate(kind="fitted_tag", serial="RAW-1")
    )
    session.commit()
    # Refused if the rows did not fit the table: its foreign key needs the device's id
    # as OpenEM stores it.
    sender = {"id": str(device.id), "subject_id": str(uuid.uuid4()), "order_id": str(uuid.uuid4())}
    rate = preformatted_insert_rate(database_url, sender, 2_000, indexed=True)
    assert rate > 0
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Position)) == 0


def test_the_bench_refuses_a_database_holding_real_subjects_and_adds_nothing_to_it(
    database_url: str, session: Session
) -> None:
    factories.subject(session)
    session.commit()
    result = CliRunner().invoke(
        app, ["bench", "ingest", "--json", "--seconds", "0.5", "--database-url", database_url],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 2
    assert "give it an empty database, not one holding real subjects" in result.output
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Device)) == 0
    assert session.scalar(select(func.count()).select_from(Subject)) == 1
