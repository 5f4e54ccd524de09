"""A staff member's password: changed by its owner with the current one, or reset by an
administrator. Either way the account's other sessions end, so whoever knew the old
password is signed out. After a reset the account must choose its own password before
it can do anything else: the administrator knows the one they set."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.login import LoginRules, count_failure, locked
from openem.access.models import User
from openem.access.passwords import WeakPassword, hash_password, verify_password
from openem.access.principal import Principal
from openem.access.sessions import revoke_all_for
from openem.db.session import defer
from openem.errors import Forbidden, Invalid


class CurrentPasswordWrong(Forbidden):
    def __init__(self) -> None:
        super().__init__("the current password is wrong, or the account is locked")


def change_password(
    session: Session,
    *,
    principal: Principal,
    user: User,
    current: str,
    new: str,
    now: datetime,
    rules: LoginRules,
) -> int:
    """Set ``new`` once ``current`` proves the owner is at the keyboard (a wrong one counts
    towards the lockout, like a failed sign-in); ends every other session of the account
    and returns how many."""
    if locked(user, now=now):
        raise CurrentPasswordWrong()
    if not verify_password(user.password_hash, current):
        user_id, source = user.id, principal.source
        defer(session, lambda own: count_failure(own, user_id=user_id, now=now, rules=rules,
                                                 source=source))
        raise CurrentPasswordWrong()
    if verify_password(user.password_hash, new):
        raise Invalid("the new password must differ from the current one", field="new_password")
    _set(user, new)
    user.failed_logins = 0
    user.password_change_required = False
    ended = revoke_all_for(session, user_id=user.id, now=now, keep=principal.session_id)
    audit.record(session, principal=principal, action="user.password_change",
                 record_type="user", record_id=user.id, at=now)
    return ended


def reset_password(session: Session, *, principal: Principal, user: User, new: str,
                   now: datetime) -> int:
    """An administrator's reset (a forgotten password): clears a lockout, ends every
    session of the account (returns how many) and makes its next sign-in choose a new one."""
    _set(user, new)
    user.password_change_required = True
    user.failed_logins, user.locked_until = 0, None
    ended = revoke_all_for(session, user_id=user.id, now=now)
    audit.record(session, principal=principal, action="user.password_reset",
                 record_type="user", record_id=user.id, at=now)
    return ended


def _set(user: User, password: str) -> None:
    try:
        user.password_hash = hash_password(password)
    except WeakPassword as error:
        raise Invalid(str(error), field="new_password") from error
