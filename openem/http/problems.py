"""RFC 9457 problem responses. Validation errors name the field, never echo the input."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openem.errors import DomainError, Unauthorised
from openem.logs import get_logger

PROBLEM_JSON = "application/problem+json"
log = get_logger(__name__)


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _validation_errors(errors: Any) -> list[dict[str, str]]:
    return [
        {"field": _field(error.get("loc", ())), "message": error.get("msg", "invalid")}
        for error in errors
    ]


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc.errors())
    fields = ", ".join(sorted({error["field"] for error in errors}))
    return problem(422, "Validation failed", f"invalid: {fields}", errors=errors)


async def on_domain(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    extra = {"errors": [{"field": exc.field, "message": exc.detail}]} if exc.field else {}
    response = problem(exc.status, exc.title, exc.detail, **extra)
    if isinstance(exc, Unauthorised):
        response.headers["WWW-Authenticate"] = 'Bearer realm="openem"'
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = problem(exc.status_code, str(exc.detail), None)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled_error", path_template=_route(request), error_type=type(exc).__name__)
    return problem(500, "Internal server error", "the error was logged")


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, on_unexpected)
