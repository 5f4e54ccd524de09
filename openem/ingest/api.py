"""Device API (/device/v1): pairing, signed telemetry, the inbox, and tracker protocols."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from openem.db.base import utcnow
from openem.devices import inbox
from openem.devices.models import Device
from openem.devices.pairing import PAIRING_REFUSED, device_for_secret, pair_device
from openem.errors import Invalid, Unauthorised
from openem.http.deps import settings_of
from openem.http.problems import problem
from openem.http.ratelimit import RateLimiter, client_key
from openem.ingest.auth import DeviceUnauthorised, SignedRequest, signed_device
from openem.ingest.items import BatchRejected, ParsedBatch, parse_batch, parse_batch_json
from openem.ingest.protocols.osmand import OsmAndRejected, decode_osmand
from openem.ingest.protocols.owntracks import (
    OwnTracksRejected,
    decode_owntracks,
    owntracks_response,
    parse_basic_auth,
)
from openem.ingest.schemas import InboxAck, PairRequest, PairResponse
from openem.ingest.service import IngestResult, ingest
from openem.ingest.writer import TelemetryWriter

router = APIRouter(prefix="/device/v1", tags=["device"])
T = TypeVar("T")
JSON_TYPES = ("application/json",)
TELEMETRY_PATH = "/device/v1/telemetry"


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def _with_retry(sessions: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction; a concurrent duplicate insert is retried once."""
    for attempt in range(2):
        try:
            with sessions() as session, session.begin():
                return work(session)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


async def _signed(request: Request) -> SignedRequest:
    body = await request.body()
    return SignedRequest(
        method=request.method, path=request.url.path, headers=dict(request.headers), body=body
    )


def is_json(headers: Mapping[str, str]) -> bool:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in JSON_TYPES


def unsupported_media_type() -> JSONResponse:
    return problem(415, "Unsupported media type", "send application/json")


def _pairing_limiter(request: Request) -> RateLimiter:
    """Failed pairings per client, counted in the database (so across processes)."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "pairing_limiter", None)
    if limiter is None:
        limiter = state.pairing_limiter = RateLimiter(
            _sessions(request), name="pairing",
            limit=settings_of(request).pairing_rate_per_minute, period=timedelta(minutes=1),
        )
    return limiter


@router.post("/pair", response_model=PairResponse,
             responses={401: {"description": "Pairing refused"},
                        429: {"description": "Too many attempts"}})
def pair(data: PairRequest, request: Request) -> PairResponse:
    """Trade a one-time pairing code and the device's public key for its device id."""
    limiter, client, now = _pairing_limiter(request), client_key(request), utcnow()
    limiter.check(client, now=now)
    with _sessions(request)() as session, session.begin():
        device = pair_device(
            session,
            serial=data.serial,
            code=data.code,
            public_key=base64.b64decode(data.public_key),
            now=utcnow(),
        )
    if device is None:
        limiter.record(client, now=now)
        raise Unauthorised(PAIRING_REFUSED)
    return PairResponse(device_id=device.id)


def parse_telemetry(body: bytes) -> ParsedBatch | Invalid:
    """The batch, or the error to answer once the signature has been checked."""
    try:
        return parse_batch_json(body, now=utcnow())
    except BatchRejected as rejected:
        return Invalid(f"batch refused: {rejected.reason}", field="items")
    except (ValueError, UnicodeDecodeError):
        return Invalid("body is not valid JSON", field="body")


async def store_telemetry(writer: TelemetryWriter, signed: SignedRequest) -> IngestResult:
    """Authenticate, parse and store one upload; returns once its transaction committed.
    Refused at once (503) while the writer is overloaded, before any work."""
    writer.admit()
    return await writer.store(signed, parse_telemetry(signed.body))


@router.post("/telemetry", responses={
    200: {"description": "Stored; per-item outcome"},
    503: {"description": "Overloaded: nothing stored; send again after Retry-After"},
})
async def telemetry(request: Request) -> JSONResponse:
    """A signed batch of up to 1,000 items; answered only after the batch is committed.

    Applications built by :func:`openem.app.create_app` answer this route in
    :class:`openem.ingest.fastpath.TelemetryFastPath`, which does exactly this.
    """
    if not is_json(request.headers):
        return unsupported_media_type()
    signed = await _signed(request)
    result = await store_telemetry(_writer(request), signed)
    return JSONResponse(result.as_response())


@router.get("/inbox")
async def read_inbox(request: Request) -> JSONResponse:
    """Configuration, wearer messages and check-in prompts, oldest first."""
    signed = await _signed(request)

    def work(session: Session) -> list[dict[str, Any]]:
        now = utcnow()
        device = signed_device(session, request=signed, now=now)
        return [
            {
                "id": item.id,
                "kind": item.kind,
                "created_at": item.created_at.isoformat(),
                "payload": item.payload,
            }
            for item in inbox.pending(session, device_id=device.id,
                                      subject_id=device.subject_id, now=now)
        ]

    items = await run_in_threadpool(_with_retry, _sessions(request), work)
    return JSONResponse({"items": items})


@router.post("/inbox/ack")
async def acknowledge_inbox(request: Request) -> JSONResponse:
    """Acknowledge inbox items by id; acknowledged items are not sent again."""
    if not is_json(request.headers):
        return unsupported_media_type()
    signed = await _signed(request)

    def work(session: Session) -> int:
        now = utcnow()
        device = signed_device(session, request=signed, now=now)
        try:
            data = InboxAck.model_validate_json(signed.body)
        except ValueError as error:
            raise Invalid("ids must be a list of 1 to 500 inbox item ids", field="ids") from error
        return inbox.acknowledge(session, device_id=device.id, ids=data.ids, now=now)

    count = await run_in_threadpool(_with_retry, _sessions(request), work)
    return JSONResponse({"acknowledged": count})


def _writer(request: Request) -> TelemetryWriter:
    """The telemetry writer, whose overload also refuses the tracker apps' fixes: they
    are stored in transactions of their own, in the same tables, and both apps keep
    unsent fixes to send again."""
    writer: TelemetryWriter = request.app.state.telemetry_writer
    return writer


def _tracker_ingest(
    session: Session, device: Device, raw_items: list[dict[str, Any]]
) -> IngestResult:
    now = utcnow()
    parsed = parse_batch({"items": raw_items}, now=now)
    return ingest(session, device=device, items=parsed.items, rejected=parsed.rejected, now=now)


@router.post("/owntracks")
async def owntracks(request: Request) -> Response:
    """OwnTracks HTTP mode, unchanged app: HTTP Basic (device serial, device secret)."""
    _writer(request).admit()
    body = await request.body()
    headers = dict(request.headers)
    try:
        decoded = decode_owntracks(headers=headers, body=body, query=request.url.query)
    except OwnTracksRejected as rejected:
        return problem(400, "Bad request", f"OwnTracks payload refused: {rejected.reason}")
    credentials = decoded.credentials
    if credentials is None:
        raise DeviceUnauthorised("missing_credentials")

    def work(session: Session) -> IngestResult:
        device = device_for_secret(
            session, identifier=credentials.username, secret=credentials.password
        )
        if device is None:
            raise DeviceUnauthorised("unknown_device_or_secret")
        return _tracker_ingest(session, device, list(decoded.items))

    await run_in_threadpool(_with_retry, _sessions(request), work)
    return Response(owntracks_response(), media_type="application/json")


def _osmand_secret(request: Request, query: list[tuple[str, str]]) -> str | None:
    credentials = parse_basic_auth(request.headers.get("authorization"))
    if credentials is not None:
        return credentials.password
    return next((value for key, value in query if key == "token"), None)


@router.get("/osmand")
async def osmand_query(request: Request) -> Response:
    """OsmAnd / Traccar Client sending its fix as query parameters."""
    return await _osmand(request)


@router.post("/osmand")
async def osmand_post(request: Request) -> Response:
    """OsmAnd / Traccar Client: query parameters, form or JSON body; secret as token or Basic."""
    return await _osmand(request)


async def _osmand(request: Request) -> Response:
    """OsmAnd / Traccar Client: query parameters or JSON body; secret as ``token`` or Basic."""
    _writer(request).admit()
    body = await request.body()
    query = parse_qsl(request.url.query, keep_blank_values=True)
    secret = _osmand_secret(request, query)
    if not secret:
        raise DeviceUnauthorised("missing_credentials")
    remaining = urlencode([(key, value) for key, value in query if key != "token"])
    try:
        decoded = decode_osmand(
            query=remaining, headers=dict(request.headers), body=body, now=utcnow()
        )
    except OsmAndRejected as rejected:
        return problem(400, "Bad request", f"OsmAnd request refused: {rejected.reason}")

    def work(session: Session) -> IngestResult:
        device = device_for_secret(session, identifier=decoded.device_id, secret=secret)
        if device is None:
            raise DeviceUnauthorised("unknown_device_or_secret")
        return _tracker_ingest(session, device, list(decoded.items))

    await run_in_threadpool(_with_retry, _sessions(request), work)
    return Response(status_code=200)
