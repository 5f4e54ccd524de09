"""Browser-test support: the system Chromium through Playwright, a seeded server, screenshots."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy.orm import Session

from openem.access import account, totp
from openem.access.models import OrganisationKind, Role, User
from openem.access.principal import SYSTEM
from openem.crypto.envelope import KeyRing
from tests.support import factories

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """The system Chromium; skips (fails in CI) when it is not installed."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "Chromium is not installed (apt-get install chromium): browser tests skipped"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


RESET = "caseworker_after_reset"
# Each login spends a TOTP code: a second administrator for a second admin test.
SECOND_ADMIN = "second_admin"


@dataclass
class Seed:
    users: dict[str, tuple[str, str]] = field(default_factory=dict)  # role -> (username, secret)
    user_ids: dict[str, Any] = field(default_factory=dict)
    subject_id: Any = None
    order_id: Any = None
    reference: str = ""
    admin_token: str = ""

    def code(self, role: str) -> str:
        return pyotp.TOTP(self.users[role][1]).now()


def with_totp(session: Session, user: User, keyring: KeyRing) -> str:
    """Set TOTP up through the service, confirming with the previous step's code so the
    current one is still unused for the first login."""
    earlier = datetime.now(UTC) - timedelta(seconds=30)
    secret = totp.enrol(session, principal=SYSTEM, user=user, now=earlier, keyring=keyring).secret
    code = pyotp.TOTP(secret).at(earlier)
    totp.confirm(session, principal=SYSTEM, user=user, code=code, now=earlier, keyring=keyring)
    return secret


def seed(session: Session, keyring: KeyRing) -> Seed:
    data = Seed()
    home = factories.organisation(session)
    police = factories.organisation(session, kind=OrganisationKind.police)
    for role, org, team in (
        (Role.caseworker, home, "north"),
        (Role.police, police, None),
        (Role.auditor, home, None),
        (Role.admin, home, None),
    ):
        user = factories.user(session, role, team=team, org=org)
        data.users[role.value] = (user.username, with_totp(session, user, keyring))
        data.user_ids[role.value] = user.id
    admin = session.get(User, data.user_ids[Role.admin.value])
    assert admin is not None
    # A caseworker whose password an administrator has just reset (to the shared one).
    reset = factories.user(session, Role.caseworker, team="north", org=home)
    data.users[RESET] = (reset.username, with_totp(session, reset, keyring))
    second = factories.user(session, Role.admin, team=None, org=home)
    data.users[SECOND_ADMIN] = (second.username, with_totp(session, second, keyring))
    data.user_ids[SECOND_ADMIN] = second.id
    account.reset_password(session, principal=SYSTEM, user=reset, new=factories.PASSWORD,
                           now=datetime.now(UTC))
    data.admin_token = factories.token_for(session, admin)
    subject = factories.subject(session, caseload_team="north")
    started = datetime.now(UTC) - timedelta(hours=2)  # the trail goes back an hour
    data.order_id = factories.order(session, subject.id, starts_at=started.isoformat()).id
    data.subject_id, data.reference = subject.id, subject.home_office_reference
    return data
