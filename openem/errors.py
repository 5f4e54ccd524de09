"""Domain errors. Services raise these; the HTTP layer turns them into problem responses.

Messages name the problem and the field, never the personal data involved.
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class Invalid(DomainError):
    status = 422
    title = "Unprocessable content"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class Unauthorised(DomainError):
    status = 401
    title = "Unauthorised"
