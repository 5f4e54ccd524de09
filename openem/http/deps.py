"""Request-scoped dependencies: the database session and the authenticated principal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from openem.access.policy import require
from openem.access.principal import Principal
from openem.access.tokens import authenticate_token
from openem.db.base import utcnow
from openem.errors import Unauthorised


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent."""
    with request.app.state.sessions() as session, session.begin():
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]


class BearerRequired(Unauthorised):
    pass


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def authenticated(request: Request, session: DbSession) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise BearerRequired("authentication required: send a bearer API token")
    principal = authenticate_token(
        session, secret=secret.strip(), now=utcnow(), source=_client(request)
    )
    if principal is None:
        raise BearerRequired("the API token is unknown, expired or revoked")
    return principal


def requires(permission: str) -> Callable[..., Principal]:
    """Route dependency declaring the permission a route needs; the policy decides."""

    def dependency(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        require(principal, permission)
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency
