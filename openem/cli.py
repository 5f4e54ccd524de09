"""The `openem` command."""

from __future__ import annotations

import getpass
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import uvicorn
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from openem.config import get_settings
from openem.db import migrate as migrations
from openem.db.base import utcnow
from openem.db.engine import is_sqlite, make_engine
from openem.db.session import make_session_factory, transaction

if TYPE_CHECKING:
    from openem.access.models import User

app = typer.Typer(help="OpenEM electronic-monitoring platform.", no_args_is_help=True)
users_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
bench_app = typer.Typer(help="Benchmarks; each prints one JSON object.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
sar_app = typer.Typer(help="Subject access requests.", no_args_is_help=True)
app.add_typer(sar_app, name="sar")
keys_app = typer.Typer(help="Master keys for encrypted blobs.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
eval_app = typer.Typer(help="Evaluations on labelled data; each prints one JSON object.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="eval")
DEFAULT_FACES_DIR = Path("../shared/faces")
console = Console(stderr=True)


@app.command()
def migrate(
    to: Annotated[str, typer.Option(help="Target revision (head, base or an id).")] = "head",
    down: Annotated[bool, typer.Option(help="Downgrade to --to instead of upgrading.")] = False,
) -> None:
    """Bring the database schema to a revision (default: the newest)."""
    url = get_settings().database_url
    if down:
        migrations.downgrade(url, to if to != "head" else "base")
    else:
        migrations.upgrade(url, to)
    console.print(f"database at revision {to}{' (downgraded)' if down else ''}")


@app.command()
def serve(
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
) -> None:
    """Run the HTTP server. On the embedded SQLite default, migrates first."""
    settings = get_settings()
    if is_sqlite(settings.database_url):
        migrations.upgrade(settings.database_url)
    uvicorn.run(
        "openem.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers or settings.workers,
        log_level="warning",
        access_log=False,
    )


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Login name.")],
    role: Annotated[str, typer.Option(help="caseworker, operator, supervisor, police, ...")],
    organisation: Annotated[str, typer.Option(help="Organisation name (created if missing).")],
    organisation_kind: Annotated[
        str, typer.Option(help="Kind, when the organisation is new.")
    ] = "other",
    display_name: Annotated[str | None, typer.Option(help="Shown name.")] = None,
    team: Annotated[str | None, typer.Option(help="Caseload team.")] = None,
    token: Annotated[bool, typer.Option(help="Also issue an API token (printed once).")] = False,
) -> None:
    """Create a staff account (the password is asked for, never taken as an argument)."""
    from openem.access import service
    from openem.access.models import Organisation
    from openem.access.principal import SYSTEM
    from openem.access.schemas import OrganisationCreate, UserCreate
    from openem.access.tokens import issue_token

    password = getpass.getpass("Password (at least 12 characters): ")
    factory = make_session_factory(make_engine(get_settings().database_url))
    with transaction(factory) as session:
        existing = session.query(Organisation).filter_by(name=organisation).one_or_none()
        org = existing or service.create_organisation(
            session,
            principal=SYSTEM,
            data=OrganisationCreate(name=organisation, kind=organisation_kind),
        )
        user = service.create_user(
            session,
            principal=SYSTEM,
            data=UserCreate(
                username=username,
                display_name=display_name or username,
                role=role,
                organisation_id=org.id,
                team=team,
                password=password,
            ),
        )
        secret = (
            issue_token(
                session, user=user, label="cli", now=utcnow(), ttl=timedelta(days=90)
            ).secret
            if token
            else None
        )
    console.print(f"created user {username} ({role})")
    if secret:
        typer.echo(secret)


def _staff_account(session: Session, username: str) -> User:
    """The account named ``username``; exits with a message when there is none."""
    from openem.access.service import find_user_by_username

    user = find_user_by_username(session, username=username)
    if user is None:
        console.print("no such user")
        raise typer.Exit(1)
    return user


@users_app.command("reset-password")
def users_reset_password(username: Annotated[str, typer.Option(help="Login name.")]) -> None:
    """Set a new password for an account (a forgotten one; asked for twice, never taken as
    an argument): clears a lockout and ends the account's sessions. Audited."""
    from openem.access import account
    from openem.access.principal import SYSTEM
    from openem.errors import Invalid

    password = getpass.getpass("New password (at least 12 characters): ")
    if getpass.getpass("The same again: ") != password:
        console.print("the two passwords differ; nothing changed")
        raise typer.Exit(1)
    factory = make_session_factory(make_engine(get_settings().database_url))
    with transaction(factory) as session:
        user = _staff_account(session, username)
        try:
            ended = account.reset_password(session, principal=SYSTEM, user=user,
                                           new=password, now=utcnow())
        except Invalid as error:
            console.print(str(error))
            raise typer.Exit(1) from None
    console.print(f"password set; {ended} open session(s) ended")


@users_app.command("reset-totp")
def users_reset_totp(username: Annotated[str, typer.Option(help="Login name.")]) -> None:
    """Remove an account's second factor (a lost phone): the next sign-in takes the
    password alone, and a role that needs TOTP must set it up again. Audited."""
    from openem.access import totp
    from openem.access.principal import SYSTEM
    from openem.errors import Conflict

    factory = make_session_factory(make_engine(get_settings().database_url))
    with transaction(factory) as session:
        user = _staff_account(session, username)
        try:
            totp.reset(session, principal=SYSTEM, user=user, now=utcnow())
        except Conflict as error:
            console.print(str(error))
            raise typer.Exit(1) from None
    console.print("second factor removed: it must be set up again at the next sign-in")


@app.command()
def demo(
    subjects: Annotated[int, typer.Option(help="Fictional subjects to create.")] = 50,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the server.")
    ] = True,
    simulator: Annotated[
        bool, typer.Option("--simulate/--no-simulate", help="Run the device simulator too.")
    ] = True,
) -> None:
    """Migrate, seed fictional organisations, staff, subjects and zones, print the logins,
    then serve with the device simulator moving every fictional wearer."""
    import subprocess
    import sys

    from openem.app import create_app
    from openem.checkins.config import CheckinConfig
    from openem.crypto.envelope import load_keyring
    from openem.demo import FaceSetup, seed

    settings = get_settings()
    migrations.upgrade(settings.database_url)
    factory = make_session_factory(make_engine(settings.database_url))
    faces = FaceSetup(keyring=load_keyring(settings.key_file, create=True),
                      data_dir=Path(settings.data_dir),
                      config=CheckinConfig.from_settings(settings),
                      enrolment_jitters=settings.face_enrolment_jitters)
    with transaction(factory) as session:
        logins = seed(session, subjects=subjects, faces=faces)
    typer.echo("Demo logins (fictional data only; password, then API token):")
    for login in logins:
        typer.echo(f"  {login.username:<11} {login.role:<11} {login.password}  {login.api_token}")
    out = Console()
    out.print(
        f"OpenEM demo: http://{settings.host}:{settings.port}/  "
        f"(API docs: http://{settings.host}:{settings.port}/docs)"
    )
    if not serve_after:
        return
    base = f"http://{settings.host}:{settings.port}"
    admin = next(login.api_token for login in logins if login.role == "admin")
    child = None
    if simulator:
        command = [
            sys.executable,
            "-m",
            "openem",
            "simulate",
            "--server",
            base,
            "--devices",
            str(subjects),
            "--fix-interval",
            "5",
            "--upload-interval",
            "10",
            "--wait",
            "60",
        ]
        child = subprocess.Popen(command, env=os.environ | {"OPENEM_SIM_TOKEN": admin})
    local_http = settings.model_copy(update={"session_cookie_secure": False})
    try:
        uvicorn.run(
            create_app(local_http),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
        )
    finally:
        if child is not None:
            child.terminate()
            child.wait(timeout=10)


@app.command()
def simulate(
    server: Annotated[
        str, typer.Option(help="Base URL of the OpenEM server.")
    ] = "http://127.0.0.1:8000",
    token: Annotated[
        str,
        typer.Option(
            envvar="OPENEM_SIM_TOKEN", help="Administrator API token (pairs the devices)."
        ),
    ] = "",
    devices: Annotated[int, typer.Option(help="How many devices to simulate.")] = 50,
    seconds: Annotated[float | None, typer.Option(help="Stop after this long.")] = None,
    serial_prefix: Annotated[
        str, typer.Option(help="Simulate devices whose serial starts so.")
    ] = "DEMO-",
    fix_interval: Annotated[float, typer.Option(help="Seconds between fixes.")] = 10.0,
    upload_interval: Annotated[float, typer.Option(help="Seconds between uploads.")] = 30.0,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the server to be up.")] = 0.0,
    faces: Annotated[
        bool,
        typer.Option("--faces/--no-faces",
                     help="Answer check-in prompts with demo faces (cached in OPENEM_DATA_DIR)."),
    ] = True,
) -> None:
    """Fictional wearers with daily routines; pairs and signs like real devices, HTTP only."""
    import asyncio

    from openem.sim.runner import simulate as run_simulation

    if not token:
        raise typer.BadParameter("an administrator API token is needed", param_hint="--token")
    if wait:
        _wait_for_server(server, wait)
    count = asyncio.run(
        run_simulation(
            server=server,
            token=token,
            devices=devices,
            seconds=seconds,
            serial_prefix=serial_prefix,
            fix_interval_s=fix_interval,
            upload_interval_s=upload_interval,
            data_dir=Path(get_settings().data_dir) if faces else None,
        )
    )
    console.print(f"simulated {count} devices")


@bench_app.command("rules")
def bench_rules(
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    seconds: Annotated[float, typer.Option(help="Time budget of each half, seconds.")] = 10.0,
    database_url: Annotated[
        str | None, typer.Option(help="PostgreSQL/PostGIS URL for the ST_Covers comparison.")
    ] = None,
    rate: Annotated[float, typer.Option(help="Offered ingest load, positions/s.")] = 3300.0,
    latency_database_url: Annotated[
        str | None,
        typer.Option(help="A disposable database for the latency run (default: temp SQLite)."),
    ] = None,
) -> None:
    """Zone evaluation rate (vs PostGIS ST_Covers) and alert latency on the stream under load."""
    import json

    from openem.alerts.latency import run_alert_latency
    from openem.rules.bench import run_rules_bench

    report = run_rules_bench(database_url=database_url, seconds=seconds)
    latency = run_alert_latency(seconds=seconds, rate=rate, database_url=latency_database_url)
    report["figures"].update(latency)
    p99 = latency["alert_latency_p99_s"]
    report["targets"]["alert_latency_p99_s"] = {
        "target": 2.0,
        "op": "<=",
        "met": p99 is not None and p99 <= 2.0,
    }
    typer.echo(json.dumps(report, indent=None if json_output else 2))


@contextmanager
def _session_factory(url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@app.command()
def purge(
    subject: Annotated[
        str | None, typer.Option(help="Only this subject's due data (refused under a hold).")
    ] = None,
) -> None:
    """Delete everything that is due (rows, blobs, archives, bus), with certificates."""
    import asyncio

    from openem.bus.factory import connect_bus
    from openem.errors import DomainError
    from openem.retention import purge as retention_purge
    from openem.retention.schedules import schedules_from_settings

    settings = get_settings()
    try:
        subject_id = uuid.UUID(subject) if subject else None
    except ValueError:
        raise typer.BadParameter("not a subject id", param_hint="--subject") from None

    async def drain(factory: sessionmaker[Session]) -> int:
        bus = await connect_bus(settings.bus_url, max_age_s=settings.bus_max_age_s)
        try:
            return await retention_purge.drain_bus_purges(factory, bus)
        finally:
            await bus.close()

    with _session_factory(settings.database_url) as factory:
        try:
            report = retention_purge.run(
                factory,
                schedules=schedules_from_settings(settings),
                now=utcnow(),
                data_dir=settings.data_dir,
                batch_size=settings.purge_batch_size,
                subject_id=subject_id,
            )
        except DomainError as error:
            console.print(f"purge refused: {error.detail}")
            raise typer.Exit(1) from None
        removed = asyncio.run(drain(factory))
    for data_class, count in report.deleted().items():
        typer.echo(f"{data_class}: {count} deleted")
    typer.echo(
        f"certificates: {len(report.certificates)}; bus messages: {removed}; "
        f"subjects under hold skipped: {report.held}"
    )


@sar_app.command("export")
def sar_export(
    subject_id: Annotated[str, typer.Argument(help="The subject's id.")],
    out: Annotated[Path | None, typer.Option(help="Write the archive here.")] = None,
) -> None:
    """One zip of everything held about a subject, with an HTML and PDF summary."""
    from openem.access.principal import Principal
    from openem.crypto.envelope import KeyFileError, load_keyring
    from openem.errors import DomainError
    from openem.retention import sar
    from openem.retention.schedules import schedules_from_settings

    settings = get_settings()
    try:
        parsed = uuid.UUID(subject_id)
    except ValueError:
        raise typer.BadParameter("not a subject id", param_hint="SUBJECT_ID") from None
    try:
        keyring = load_keyring(settings.key_file)
    except KeyFileError:
        keyring = None
    operator = Principal(user_id=None, role="system", organisation_id=None, source="cli")
    try:
        with _session_factory(settings.database_url) as factory, transaction(factory) as session:
            archive = sar.export(
                session,
                principal=operator,
                subject_id=parsed,
                now=utcnow(),
                data_dir=settings.data_dir,
                keyring=keyring,
                schedules=schedules_from_settings(settings),
            )
    except DomainError as error:
        console.print(f"export refused: {error.detail}")
        raise typer.Exit(1) from None
    if out is not None:
        out.write_bytes(archive.content)
        path = out
    else:
        path = sar.save(archive, data_dir=settings.data_dir, subject_id=parsed)
    typer.echo(str(path))


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-wrap every record key under a new master key, then retire the old one."""
    from openem.retention import keys

    settings = get_settings()
    with _session_factory(settings.database_url) as factory:
        report = keys.rotate(factory, key_file=settings.key_file, data_dir=settings.data_dir)
    typer.echo(
        f"new master key {report.new_key_id}; re-wrapped {report.rewrapped} record keys; "
        f"retired {len(report.retired_key_ids)} old key(s)"
    )


@bench_app.command("ingest")
def bench_ingest(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    seconds: Annotated[float, typer.Option(help="Seconds per phase.")] = 10.0,
    database_url: Annotated[str | None, typer.Option(help="One database to measure.")] = None,
) -> None:
    """Ingest throughput and latency against the real server (SQLite and PostgreSQL)."""
    from openem.ingest.bench import default_database_urls, run_ingest_bench

    result = run_ingest_bench(database_urls=default_database_urls(database_url), seconds=seconds)
    _print_bench(result, json_output)


@bench_app.command("dashboard")
def bench_dashboard(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL URL (recreated!); default OPENEM_BENCH_POSTGRES_URL or "
            "a fresh openem_bench_web on 127.0.0.1."
        ),
    ] = None,
    subjects: Annotated[int, typer.Option(help="Subjects in the caseload.")] = 10_000,
    heavy: Annotated[int, typer.Option(help="Subjects with the long history.")] = 200,
    days: Annotated[float, typer.Option(help="Days of a fix a minute for those.")] = 30.0,
    rest_hours: Annotated[float, typer.Option(help="Hours of fixes for the rest.")] = 24.0,
    runs: Annotated[int, typer.Option(help="Timed requests per page.")] = 40,
) -> None:
    """Server time p50/p95 of the caseload, a subject page with its 24 h trail, the alert queue."""
    from openem.web.bench import run_dashboard_bench

    result = run_dashboard_bench(
        database_url=database_url,
        subjects=subjects,
        heavy=heavy,
        days=days,
        rest_hours=rest_hours,
        runs=runs,
    )
    _print_bench(result, json_output)


@bench_app.command("startup")
def bench_startup(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    runs: Annotated[int, typer.Option(help="Warm starts to time.")] = 5,
) -> None:
    """Seconds from `openem serve` on SQLite to a healthy /healthz (median of warm starts)."""
    from openem.startup_bench import run_startup_bench

    _print_bench(run_startup_bench(runs=runs), json_output)


@bench_app.command("checkins")
def bench_checkins(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    seconds: Annotated[float, typer.Option(help="Seconds of closed-loop check-ins.")] = 30.0,
    faces: Annotated[
        Path, typer.Option(help="Face set laid out like ../shared/faces.")
    ] = DEFAULT_FACES_DIR,
    workers: Annotated[int, typer.Option(help="Face worker processes.")] = 2,
    people: Annotated[int, typer.Option(help="People whose bursts are simulated.")] = 24,
) -> None:
    """Check-ins per second, p50/p95 latency, pipeline overhead over bare dlib, replay APCER."""
    from openem.biometrics.bench import run_checkins_bench

    if not faces.is_dir():
        raise typer.BadParameter(f"no face set at {faces}", param_hint="--faces")
    result = run_checkins_bench(faces, seconds=seconds, workers=workers, people=people)
    _print_bench(result, json_output)


@eval_app.command("faces")
def eval_faces(
    directory: Annotated[Path, typer.Argument(help="Face set: images, pairs.csv, attributes.csv.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    calibrate: Annotated[
        bool, typer.Option("--calibrate", help="Write the calibrated threshold to --config.")
    ] = False,
    fmr: Annotated[
        float, typer.Option(help="Target false-match rate per prompt (3 impostor attempts).")
    ] = 1e-3,
    limit_pairs: Annotated[
        int | None, typer.Option(help="Evaluate a seeded sample of this many pairs.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    plots: Annotated[Path | None, typer.Option(help="Write DET curves (PNG) here.")] = None,
    workers: Annotated[int, typer.Option(help="Face worker processes.")] = 2,
    cache: Annotated[
        Path | None,
        typer.Option(help="Descriptor cache directory (keyed by content; results unchanged)."),
    ] = None,
    config: Annotated[
        Path, typer.Option(help="Environment file that --calibrate updates.")
    ] = Path("openem.env"),
) -> None:
    """Pair- and prompt-level accuracy, per-group figures, the peer library on the same pairs.

    With --calibrate, OPENEM_FACE_THRESHOLD (the threshold meeting --fmr on all folds) is
    written to --config; load that file into the service's environment."""
    from openem.fairness.evaluate import evaluate_faces

    if not directory.is_dir():
        raise typer.BadParameter(f"no face set at {directory}", param_hint="DIRECTORY")
    result = evaluate_faces(directory, limit_pairs=limit_pairs, seed=seed, calibrate_fmr=fmr,
                            plots_dir=plots, workers=workers, cache_dir=cache)
    if calibrate:
        threshold = float(result["figures"]["threshold"])
        write_env_setting(config, "OPENEM_FACE_THRESHOLD", f"{threshold:.6f}")
        console.print(f"OPENEM_FACE_THRESHOLD={threshold:.6f} written to {config}")
    _print_bench(result, json_output)


def write_env_setting(path: Path, name: str, value: str) -> None:
    """Set ``NAME=value`` in an environment file, keeping its other lines."""
    lines = path.read_text().splitlines() if path.exists() else []
    kept = [line for line in lines if not line.startswith(f"{name}=")]
    path.write_text("\n".join([*kept, f"{name}={value}"]) + "\n")


def _print_bench(result: dict[str, object], json_output: bool) -> None:
    import json

    if not json_output:
        console.print_json(data=result)
        return
    typer.echo(json.dumps(result))


@audit_app.command("verify")
def audit_verify(
    database_url: Annotated[
        str | None, typer.Option(help="Database to check (default: OPENEM_DATABASE_URL).")
    ] = None,
) -> None:
    """Walk the hash chain; name the first entry altered, removed or reordered (exit 1)."""
    from openem.access import chain

    engine = make_engine(database_url or get_settings().database_url)
    try:
        with make_session_factory(engine)() as session:
            result = chain.verify(session)
    finally:
        engine.dispose()
    typer.echo(result.describe())
    if not result.ok:
        raise typer.Exit(code=1)


def _wait_for_server(server: str, seconds: float) -> None:
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{server}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise typer.Exit(code=1)
