"""The `openem` command: the server, the demo and the simulator here; each domain's
commands in its own module."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from openem.access.cli import audit_app, users_app
from openem.bench_cli import bench_app, eval_app
from openem.config import get_settings
from openem.db import migrate as migrations
from openem.db.engine import is_sqlite, make_engine
from openem.db.session import make_session_factory, transaction
from openem.retention import cli as retention_cli

app = typer.Typer(help="OpenEM electronic-monitoring platform.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(bench_app, name="bench")
app.add_typer(audit_app, name="audit")
app.add_typer(retention_cli.sar_app, name="sar")
app.add_typer(retention_cli.keys_app, name="keys")
app.add_typer(eval_app, name="eval")
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


app.command()(retention_cli.purge)


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
