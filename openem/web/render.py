"""Rendering pages, the viewer's home page, and HTML answers to errors on page routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from openem.access.policy import allows
from openem.errors import DomainError
from openem.web.deps import (
    CsrfRejected,
    LoginRequired,
    PageForbidden,
    PasswordChangeDue,
    TotpSetupDue,
    Viewer,
)

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")

# The dashboard's sections, shown to whoever the policy lets use them; first allowed = home.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("/caseload", "Caseload", "subjects:read"),
    ("/alerts", "Alerts", "alerts:read"),
    ("/devices", "Devices", "devices:read"),
    ("/police-requests", "Police requests", "police_requests:read"),
    ("/reviews", "Break-glass reviews", "reviews:read"),
    ("/audit", "Audit", "audit:read"),
    ("/order-reviews", "Reviews due", "proportionality:read"),
    ("/retention", "Retention", "retention:read"),
    ("/bias", "Bias report", "reports:read"),
)


def sections_for(viewer: Viewer | None) -> list[tuple[str, str]]:
    if viewer is None:
        return []
    return [(url, label) for url, label, perm in SECTIONS if allows(viewer.principal, perm)]


def home_for(viewer: Viewer) -> str:
    sections = sections_for(viewer)
    return sections[0][0] if sections else "/account"


def render(
    request: Request, viewer: Viewer | None, template: str, *, status_code: int = 200,
    **context: Any
) -> HTMLResponse:
    settings = request.app.state.settings
    context |= {
        "viewer": viewer,
        "sections": sections_for(viewer),
        "tile_url": settings.tile_url,
        "path": request.url.path,
    }
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def _error(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return render(request, None, "error.html", status_code=status, title=title, detail=detail)


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/device/", "/healthz", "/metrics"))


async def on_login_required(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", status_code=303)


async def on_totp_setup(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/totp-setup", status_code=303)


async def on_password_change(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/account", status_code=303)


async def on_forbidden(request: Request, exc: Exception) -> Response:
    return _error(request, 403, "Not allowed", "Your role does not give access to this page.")


async def on_csrf(request: Request, exc: Exception) -> Response:
    return _error(request, 403, "Form expired", "Reload the page and try again.")


def domain_error_handler(api_handler: Any) -> Any:
    """HTML for page routes; the API's problem+json everywhere else."""

    async def handler(request: Request, exc: Exception) -> Response:
        if not is_page(request):
            response: Response = await api_handler(request, exc)
            return response
        assert isinstance(exc, DomainError)
        return _error(request, exc.status, exc.title, exc.detail)

    return handler


HANDLERS = {
    LoginRequired: on_login_required,
    TotpSetupDue: on_totp_setup,
    PasswordChangeDue: on_password_change,
    PageForbidden: on_forbidden,
    CsrfRejected: on_csrf,
}
