"""Security headers on every response; the CSP allows only this origin and the tile host."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Swagger UI (/docs) loads its own assets and inline script; it keeps FastAPI's defaults.
NO_CSP_PATHS = ("/docs", "/redoc")


def tile_origin(tile_url: str) -> str | None:
    """The scheme and host of the tile URL template (``{s}`` subdomains become ``*``)."""
    parts = urlsplit(tile_url.replace("{s}", "*"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(tile_url: str) -> str:
    images = " ".join(filter(None, ["'self'", "data:", tile_origin(tile_url)]))
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(path: str, csp: bytes) -> list[tuple[bytes, bytes]]:
    """The headers added to every response for ``path``."""
    headers = [
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-content-type-options", b"nosniff"),
    ]
    if not path.startswith(NO_CSP_PATHS):
        headers.append((b"content-security-policy", csp))
    return headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, tile_url: str) -> None:
        self.app = app
        self.csp = content_security_policy(tile_url).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = security_headers(str(scope.get("path", "")), self.csp)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *added]
            await send(message)

        await self.app(scope, receive, send_with_headers)
