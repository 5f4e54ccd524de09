"""The telemetry route served as plain ASGI, ahead of routing and dependency injection.

Every device posts a fix a minute, so ``POST /device/v1/telemetry`` carries nearly
all of a national deployment's requests. For it, matching the application's routes,
FastAPI's request handling and the exception middleware cost more than the
request's own work. This middleware answers it directly, exactly as the FastAPI
route in :mod:`openem.ingest.api` does (which stays for the OpenAPI document and
for applications built without it). It wraps the whole middleware stack, so it
applies what that stack would: the body size limit, the security headers and the
request metrics; errors are answered by the same problem handlers.
"""

from __future__ import annotations

import time

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from openem.errors import DomainError
from openem.http import metrics
from openem.http.limits import BodyTooLarge, too_large
from openem.http.problems import on_domain, on_unexpected
from openem.ingest.api import TELEMETRY_PATH, is_json, store_telemetry, unsupported_media_type
from openem.ingest.auth import SignedRequest


class TelemetryFastPath:
    """Answers ``POST`` to :data:`TELEMETRY_PATH`; passes every other request on."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        route: APIRoute,
        max_body_bytes: int,
        response_headers: list[tuple[bytes, bytes]],
    ) -> None:
        self.app = app
        self.route = route
        self.max_body_bytes = max_body_bytes
        self.response_headers = response_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != TELEMETRY_PATH
            or scope["method"] != "POST"
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope["route"] = self.route  # named in error logs as the route would be
        try:
            response = await self._answer(scope, receive)
        except BodyTooLarge:
            await too_large(send, self.max_body_bytes)
            status = 413
        else:
            response.raw_headers += self.response_headers
            await response(scope, receive, send)
            status = response.status_code
        metrics.record("POST", TELEMETRY_PATH, status, time.perf_counter() - started)

    async def _answer(self, scope: Scope, receive: Receive) -> Response:
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise BodyTooLarge  # before the content type, as the size limit outside would
        if not is_json(headers):
            return unsupported_media_type()
        body = await _read_body(receive, self.max_body_bytes)
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


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; :class:`BodyTooLarge` as soon as it passes ``limit``."""
    chunks, received = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
