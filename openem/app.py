"""FastAPI application factory: mounts each domain's router."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp

from openem import __version__
from openem.access.api import router as access_router
from openem.access.audit_api import router as audit_router
from openem.access.auth_api import router as auth_router
from openem.access.oidc_api import router as oidc_router
from openem.alerts.api import router as alerts_router
from openem.alerts.sink import AlertsSink
from openem.alerts.stream import AlertHub
from openem.bus.factory import connect_bus
from openem.bus.outbox import relay_until
from openem.checkins import api as checkins_api
from openem.checkins.config import CheckinConfig
from openem.checkins.tasks import CheckinScheduler
from openem.config import Settings, get_settings
from openem.db.checkpoint import WalCheckpointer
from openem.db.engine import make_engine, sqlite_file
from openem.db.session import make_session_factory
from openem.devices.api import router as devices_router
from openem.disclosures.api import router as disclosures_router
from openem.http import metrics, problems
from openem.http.limits import BodySizeLimit
from openem.ingest.api import TELEMETRY_PATH
from openem.ingest.api import router as device_router
from openem.ingest.fastpath import TelemetryFastPath
from openem.ingest.writer import TelemetryWriter
from openem.locations.api import router as locations_router
from openem.logs import configure_logging, get_logger
from openem.retention.api import router as retention_router
from openem.retention.schedules import schedules_from_settings
from openem.retention.tasks import run_daily
from openem.rules.config import RulesConfig
from openem.rules.partition import Partition
from openem.rules.tasks import RulesWorker
from openem.subjects.api import router as subjects_router
from openem.subjects.proportionality_api import router as proportionality_router
from openem.web import install as install_dashboard
from openem.web.security import content_security_policy, security_headers
from openem.zones.api import router as zones_router

log = get_logger(__name__)

# Device routes first: they carry nearly all requests (a fix a minute from every
# device), and routing tries routes in order.
ROUTERS = (
    device_router,
    checkins_api.device_router,
    auth_router,
    oidc_router,
    access_router,
    audit_router,
    subjects_router,
    proportionality_router,
    devices_router,
    locations_router,
    zones_router,
    alerts_router,
    disclosures_router,
    retention_router,
    checkins_api.router,
)


def _freeze_startup_objects() -> None:
    """Keep what start-up built (modules, the app, its engine: about 260,000 objects, for
    the life of the process) out of the garbage collector's passes. A full pass over
    them took about 140 ms here, several times a minute under load, in which the
    worker answered nothing; with them frozen a full pass takes about 15 ms."""
    gc.collect()  # garbage frozen now would never be collected
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    schedules_from_settings(settings)  # refuse bad retention periods at start-up

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(json=settings.log_json, level=settings.log_level)
        engine = make_engine(settings.database_url)
        app.state.engine = engine
        app.state.sessions = make_session_factory(engine)
        app.state.wal_checkpointer = checkpointer = _wal_checkpointer(settings.database_url)
        app.state.telemetry_writer = writer = TelemetryWriter(
            app.state.sessions, max_wait_s=settings.telemetry_max_wait_s,
            retry_after_s=settings.telemetry_retry_after_s,
        )
        writer.start()
        app.state.bus = await connect_bus(settings.bus_url, max_age_s=settings.bus_max_age_s)
        stop_relay = asyncio.Event()
        relay = asyncio.create_task(relay_until(stop_relay, app.state.sessions, app.state.bus))
        stop_workers = asyncio.Event()
        hub = AlertHub(app.state.sessions, poll_s=settings.alerts_stream_poll_s)
        app.state.alert_hub = hub
        workers = [asyncio.create_task(hub.run(stop_workers))]
        if settings.rules_worker:
            app.state.rules = RulesWorker(
                sessions=app.state.sessions, bus=app.state.bus,
                config=RulesConfig.from_settings(settings), sink=AlertsSink(),
                partition=Partition(settings.rules_partition, settings.rules_partitions),
            )
            workers += app.state.rules.start(
                stop_workers, sweep_interval_s=settings.rules_sweep_interval_s
            )
        if settings.checkin_scheduler:
            app.state.checkins = CheckinScheduler(
                sessions=app.state.sessions, config=CheckinConfig.from_settings(settings)
            )
            workers.append(asyncio.create_task(
                app.state.checkins.run(stop_workers, interval_s=settings.checkin_interval_s)
            ))
        retention = (
            asyncio.create_task(
                run_daily(stop_relay, app.state.sessions, app.state.bus, settings=settings)
            )
            if settings.purge_schedule
            else None
        )
        _freeze_startup_objects()
        log.info("openem_started", version=__version__, port=settings.port)
        try:
            yield
        finally:
            gc.unfreeze()  # what this app built may be garbage once it stops
            await run_in_threadpool(writer.stop)
            stop_workers.set()
            await asyncio.gather(*workers, return_exceptions=True)
            stop_relay.set()
            await relay
            if retention is not None:
                await retention
            await app.state.bus.close()
            pool = getattr(app.state, "face_pool", None)
            if pool is not None:
                await run_in_threadpool(pool.close)
            if checkpointer is not None:
                await run_in_threadpool(checkpointer.stop)
            engine.dispose()

    app = OpenEM(
        title="OpenEM",
        version=__version__,
        summary="Electronic monitoring with audited access and retention enforced in code.",
        lifespan=lifespan,
        telemetry=_opentelemetry(settings),
    )
    app.state.settings = settings
    problems.install(app)
    for router in ROUTERS:
        app.include_router(router)
    metrics.install(app)
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["service"])
    install_dashboard(app, settings)
    app.add_middleware(
        BodySizeLimit,
        default_limit=settings.max_body_bytes,
        limits={
            checkins_api.CHECKIN_PATH: checkins_api.CHECKIN_BODY_LIMIT,
            checkins_api.ENROLMENT_PATH: checkins_api.ENROLMENT_BODY_LIMIT,
        },
    )
    app.fast_path = partial(
        TelemetryFastPath,
        route=_route(device_router, TELEMETRY_PATH),
        max_body_bytes=settings.max_body_bytes,
        response_headers=security_headers(
            TELEMETRY_PATH, content_security_policy(settings.tile_url).encode()
        ),
    )
    return app


class OpenEM(FastAPI):
    """FastAPI, with the device telemetry route answered ahead of the whole middleware
    stack (:mod:`openem.ingest.fastpath`)."""

    fast_path: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return self.fast_path(stack) if self.fast_path is not None else stack


def _wal_checkpointer(database_url: str) -> WalCheckpointer | None:
    """For a SQLite file, checkpoints in the background rather than in writers' commits."""
    path = sqlite_file(database_url)
    if path is None:
        return None
    checkpointer = WalCheckpointer(path)
    checkpointer.start()
    return checkpointer


def _opentelemetry(settings: Settings) -> TelemetryConfig:
    enabled = settings.opentelemetry
    return {"tracing": enabled, "metrics": enabled, "logs": enabled}


def _route(router: APIRouter, path: str) -> APIRoute:
    return next(
        route for route in router.routes if isinstance(route, APIRoute) and route.path == path
    )


def _ping_database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def healthz(request: Request) -> JSONResponse:
    """Liveness and readiness: the database answers and the bus answers."""
    checks: dict[str, str] = {}
    try:
        await run_in_threadpool(_ping_database, request.app.state.engine)
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unavailable"
    try:
        checks["bus"] = "ok" if await request.app.state.bus.ping() else "unavailable"
    except Exception:
        checks["bus"] = "unavailable"
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks},
        status_code=200 if healthy else 503,
    )
