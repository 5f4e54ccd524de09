"""`openem purge`, `openem sar` and `openem keys`: retention, subject access and the
master keys, on the server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from openem.config import get_settings
from openem.db.base import utcnow
from openem.db.engine import make_engine
from openem.db.session import make_session_factory, transaction

sar_app = typer.Typer(help="Subject access requests.", no_args_is_help=True)
keys_app = typer.Typer(help="Master keys for encrypted blobs.", no_args_is_help=True)
console = Console(stderr=True)


@contextmanager
def _session_factory(url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


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
