"""The `openem` command."""

from __future__ import annotations

import getpass
from datetime import timedelta
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from openem.config import get_settings
from openem.db import migrate as migrations
from openem.db.base import utcnow
from openem.db.engine import is_sqlite, make_engine
from openem.db.session import make_session_factory, transaction

app = typer.Typer(help="OpenEM electronic-monitoring platform.", no_args_is_help=True)
users_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
bench_app = typer.Typer(help="Benchmarks; each prints one JSON object.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
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


@app.command()
def demo(
    subjects: Annotated[int, typer.Option(help="Fictional subjects to create.")] = 50,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the server.")
    ] = True,
) -> None:
    """Migrate, seed fictional organisations, staff and subjects, print the logins, serve."""
    from openem.demo import seed

    settings = get_settings()
    migrations.upgrade(settings.database_url)
    factory = make_session_factory(make_engine(settings.database_url))
    with transaction(factory) as session:
        logins = seed(session, subjects=subjects)
    typer.echo("Demo logins (fictional data only; password, then API token):")
    for login in logins:
        typer.echo(f"  {login.username:<11} {login.role:<11} {login.password}  {login.api_token}")
    out = Console()
    out.print(
        f"OpenEM demo: http://{settings.host}:{settings.port}/  "
        f"(API docs: http://{settings.host}:{settings.port}/docs)"
    )
    if serve_after:
        uvicorn.run(
            "openem.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
        )


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
) -> None:
    """Fictional wearers with daily routines; pairs and signs like real devices, HTTP only."""
    import asyncio

    from openem.sim.runner import simulate as run_simulation

    if not token:
        raise typer.BadParameter("an administrator API token is needed", param_hint="--token")
    count = asyncio.run(
        run_simulation(
            server=server,
            token=token,
            devices=devices,
            seconds=seconds,
            serial_prefix=serial_prefix,
            fix_interval_s=fix_interval,
            upload_interval_s=upload_interval,
        )
    )
    console.print(f"simulated {count} devices")


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
        typer.Option(help="PostgreSQL URL (recreated!); default OPENEM_BENCH_POSTGRES_URL or "
                     "a fresh openem_bench_web on 127.0.0.1."),
    ] = None,
    subjects: Annotated[int, typer.Option(help="Subjects in the caseload.")] = 10_000,
    heavy: Annotated[int, typer.Option(help="Subjects with the long history.")] = 200,
    days: Annotated[float, typer.Option(help="Days of a fix a minute for those.")] = 30.0,
    rest_hours: Annotated[float, typer.Option(help="Hours of fixes for the rest.")] = 24.0,
    runs: Annotated[int, typer.Option(help="Timed requests per page.")] = 40,
) -> None:
    """Server time p50/p95 of the caseload, a subject page with its 24 h trail, the alert queue."""
    from openem.web.bench import run_dashboard_bench

    result = run_dashboard_bench(database_url=database_url, subjects=subjects, heavy=heavy,
                                 days=days, rest_hours=rest_hours, runs=runs)
    _print_bench(result, json_output)


@bench_app.command("startup")
def bench_startup(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    runs: Annotated[int, typer.Option(help="Warm starts to time.")] = 5,
) -> None:
    """Seconds from `openem serve` on SQLite to a healthy /healthz (median of warm starts)."""
    from openem.startup_bench import run_startup_bench

    _print_bench(run_startup_bench(runs=runs), json_output)


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
