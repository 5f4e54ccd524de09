"""`openem users` and `openem audit`: staff accounts and the audit trail, on the server."""

from __future__ import annotations

import getpass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from openem.config import get_settings
from openem.db.base import utcnow
from openem.db.engine import make_engine
from openem.db.session import make_session_factory, transaction

if TYPE_CHECKING:
    from openem.access.models import User

users_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
console = Console(stderr=True)


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
    an argument): clears a lockout and ends the account's sessions; the next sign-in must
    choose its own. Audited."""
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
    console.print(f"password set; {ended} open session(s) ended; the next sign-in must "
                  "choose a new one")


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
