"""The telemetry route served as plain ASGI, ahead of routing and dependency injection.

Every device posts a fix a minute, so ``POST /device/v1/telemetry`` carries nearly
all of a national deployment's requests. For it, matching the application's routes,
FastAPI's request handling and the exception middleware cost more than the
request's own work. This middleware answers it directly, exactly as the FastAPI
route in :mod:`openem.ingest.api` does (which stays for the OpenAPI document and
for applications built without it). It sits inside the body size limit, the
security headers and the metrics, so those apply to it as to every route.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from openem.errors import DomainError
from openem.http.problems import on_domain, on_unexpected
from openem.ingest.api import TELEMETRY_PATH, is_json, store_telemetry, unsupported_media_type
from openem.ingest.auth import SignedRequest


class TelemetryFastPath:
    """Answers ``POST`` to :data:`TELEMETRY_PATH`; passes every other request on."""

    def __init__(self, app: ASGIApp, *, route: APIRoute) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != TELEMETRY_PATH
            or scope["method"] != "POST"
        ):
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # named in metrics and error logs as the route would be
        response = await self._answer(scope, receive)
        await response(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive) -> Response:
        headers = Headers(scope=scope)
        if not is_json(headers):
            return unsupported_media_type()
        body = await _read_body(receive)
        signed = SignedRequest(
            method="POST", path=TELEMETRY_PATH, headers=dict(headers), body=body
        )
        try:
            result = await store_telemetry(scope["app"].state.telemetry_writer, signed)
        except DomainError as error:
            return await on_domain(Request(scope), error)
        except Exception as error:
            return await on_unexpected(Request(scope), error)
        return JSONResponse(result.as_response())


async def _read_body(receive: Receive) -> bytes:
    """The whole request body (the size limit outside counts it as it arrives)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
