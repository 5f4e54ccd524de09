"""The dashboard: server-rendered pages, small ES-module scripts, Leaflet from its package."""

from __future__ import annotations

from pathlib import Path

import xstatic.pkg.leaflet
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from openem.config import Settings
from openem.errors import DomainError
from openem.http import problems
from openem.web.api import router
from openem.web.dp_pages import router as data_protection_router
from openem.web.render import HANDLERS, domain_error_handler
from openem.web.security import SecurityHeaders

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the pages, their static files and the security headers on the app."""
    app.include_router(router)
    app.include_router(data_protection_router)
    app.mount("/static/leaflet", StaticFiles(directory=xstatic.pkg.leaflet.BASE_DIR), "leaflet")
    app.mount("/static", StaticFiles(directory=STATIC), "static")
    for exc, handler in HANDLERS.items():
        app.add_exception_handler(exc, handler)
    app.add_exception_handler(DomainError, domain_error_handler(problems.on_domain))
    app.add_middleware(SecurityHeaders, tile_url=settings.tile_url)
