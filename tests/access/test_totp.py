"""TOTP secrets are stored sealed under the key file's master key, bound to their user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs
from typer.testing import CliRunner

from openem.access import totp
from openem.access.models import AuditEntry, Role, User
from openem.access.principal import SYSTEM
from openem.access.sessions import open_session
from openem.cli import app
from openem.config import get_settings
from openem.crypto.envelope import EnvelopeError, KeyRing, generate_keyring
from openem.errors import Conflict
from tests.support import factories

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def keyring() -> KeyRing:
    return generate_keyring()


def _enrolled(session: Session, keyring: KeyRing) -> tuple[User, str]:
    user = factories.user(session, Role.supervisor)
    secret = totp.enrol(session, principal=SYSTEM, user=user, now=NOW, keyring=keyring).secret
    code = pyotp.TOTP(secret).at(NOW)
    totp.confirm(session, principal=SYSTEM, user=user, code=code, now=NOW, keyring=keyring)
    return user, secret


def _wrong_code(secret: str) -> str:
    """A code valid at none of the steps :func:`totp.check_code` accepts around NOW."""
    generator = pyotp.TOTP(secret)
    step = generator.timecode(NOW)
    valid = {generator.generate_otp(step + offset) for offset in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def test_the_secret_is_stored_sealed_and_codes_check_against_it(
    sessions: sessionmaker[Session], keyring: KeyRing
) -> None:
    with sessions() as session, session.begin():
        user, secret = _enrolled(session, keyring)
        user_id = user.id
    with sessions() as session, session.begin():
        stored = session.scalar(select(User.totp_secret).where(User.id == user_id))
        assert stored is not None and stored.startswith(totp.SEALED)
        assert secret not in stored
        user = session.get_one(User, user_id)
        later = NOW.replace(minute=1)
        assert totp.check_code(user, pyotp.TOTP(secret).at(later), now=later, keyring=keyring)


def test_a_sealed_secret_opens_only_for_its_own_user_and_key(
    sessions: sessionmaker[Session], keyring: KeyRing
) -> None:
    with sessions() as session, session.begin():
        owner, secret = _enrolled(session, keyring)
        other = factories.user(session, Role.supervisor)
        other.totp_secret = owner.totp_secret  # copied across in the database
        with pytest.raises(EnvelopeError):
            totp.secret_of(other, keyring)
        assert not totp.check_code(other, pyotp.TOTP(secret).at(NOW), now=NOW, keyring=keyring)
        with pytest.raises(EnvelopeError):
            totp.secret_of(owner, generate_keyring())
        assert totp.secret_of(owner, keyring) == secret


def test_a_secret_stored_in_the_clear_still_works_and_is_sealed_at_its_first_use(
    sessions: sessionmaker[Session], keyring: KeyRing
) -> None:
    with sessions() as session, session.begin():
        user = factories.user(session, Role.supervisor)
        secret = pyotp.random_base32()
        user.totp_secret, user.totp_enabled_at = secret, NOW  # as an earlier version stored it
        assert not totp.check_code(user, _wrong_code(secret), now=NOW, keyring=keyring)
        assert user.totp_secret == secret  # a wrong code changes nothing
        assert totp.check_code(user, pyotp.TOTP(secret).at(NOW), now=NOW, keyring=keyring)
        assert user.totp_secret.startswith(totp.SEALED)
        assert totp.secret_of(user, keyring) == secret


def test_resealing_puts_every_secret_under_the_primary_key(
    sessions: sessionmaker[Session], keyring: KeyRing
) -> None:
    with sessions() as session, session.begin():
        sealed_user, sealed_secret = _enrolled(session, keyring)
        clear_user = factories.user(session, Role.police)
        clear_user.totp_secret = clear_secret = pyotp.random_base32()
        rotated = keyring.rotated()
        assert totp.secrets_not_under(session, keyring=rotated) == 2
        assert totp.reseal_secrets(session, keyring=rotated) == 2
        assert totp.secrets_not_under(session, keyring=rotated) == 0
        assert totp.reseal_secrets(session, keyring=rotated) == 0
        only_new = rotated.without(keyring.primary)
        assert totp.secret_of(sealed_user, only_new) == sealed_secret
        assert totp.secret_of(clear_user, only_new) == clear_secret


def test_a_secret_that_cannot_be_opened_checks_no_code_and_is_logged_without_the_secret(
    sessions: sessionmaker[Session], keyring: KeyRing
) -> None:
    with sessions() as session, session.begin():
        user, secret = _enrolled(session, keyring)
        lost_key = generate_keyring()  # the key file replaced: the master key is gone
        counter = user.totp_last_counter
        with capture_logs() as logs:
            assert not totp.check_code(user, pyotp.TOTP(secret).at(NOW), now=NOW, keyring=lost_key)
        unreadable = [entry for entry in logs if entry["event"] == "totp_secret_unreadable"]
        assert unreadable == [
            {"event": "totp_secret_unreadable", "log_level": "error",
             "user_id": str(user.id), "reason": "UnknownMasterKey"}
        ]
        assert user.totp_last_counter == counter  # the step is not used up


def test_a_reset_removes_the_second_factor_and_is_audited(
    sessions: sessionmaker[Session], keyring: KeyRing
) -> None:
    with sessions() as session, session.begin():
        user, _ = _enrolled(session, keyring)
        opened = open_session(session, user=user, mfa_done=True, now=NOW,
                              max_age=timedelta(hours=12), source=None)
        totp.reset(session, principal=SYSTEM, user=user, now=NOW)
        assert opened.row.revoked_at == NOW  # a lost phone may hold a signed-in session
        assert not totp.enrolled(user)
        assert (user.totp_secret, user.totp_last_counter) == (None, None)
        with pytest.raises(Conflict):
            totp.reset(session, principal=SYSTEM, user=user, now=NOW)
        user_id = user.id
    with sessions() as session, session.begin():
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "totp.reset")
        ).all()
        assert [(e.record_type, e.record_id) for e in entries] == [("user", str(user_id))]
        user = session.get_one(User, user_id)  # set up again from the start
        secret = totp.enrol(session, principal=SYSTEM, user=user, now=NOW, keyring=keyring).secret
        code = pyotp.TOTP(secret).at(NOW)
        totp.confirm(session, principal=SYSTEM, user=user, code=code, now=NOW, keyring=keyring)
        assert totp.enrolled(user)


def test_openem_users_reset_totp_removes_an_accounts_second_factor(
    sessions: sessionmaker[Session], keyring: KeyRing, database_url: str, tmp_path: Path
) -> None:
    with sessions() as session, session.begin():
        user, _ = _enrolled(session, keyring)
        username, user_id = user.username, user.id
    env = {"OPENEM_DATABASE_URL": database_url, "OPENEM_DATA_DIR": str(tmp_path)}
    command = ["users", "reset-totp", "--username"]
    get_settings.cache_clear()
    try:
        done = CliRunner().invoke(app, [*command, username], env=env)
        again = CliRunner().invoke(app, [*command, username], env=env)
        unknown = CliRunner().invoke(app, [*command, "nobody"], env=env)
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    assert again.exit_code == 1 and "not set up" in again.output
    assert unknown.exit_code == 1 and "no such user" in unknown.output
    with sessions() as session:
        assert not totp.enrolled(session.get_one(User, user_id))
