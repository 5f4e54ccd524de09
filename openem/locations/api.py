"""Staff API: a subject's positions as GeoJSON, GPX or KML, read for a stated purpose."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime

from openem.access.principal import Principal
from openem.access.purposes import Purpose
from openem.db.base import utcnow
from openem.http.deps import DbSession, requires
from openem.locations import exports, service
from openem.locations.simplify import simplify

router = APIRouter(prefix="/api/v1", tags=["locations"])
ReadPositions = Annotated[Principal, Depends(requires("history:open"))]


class TrailFormat(StrEnum):
    geojson = "geojson"
    gpx = "gpx"
    kml = "kml"


@router.get(
    "/subjects/{subject_id}/positions",
    responses={
        200: {
            "content": {
                "application/geo+json": {},
                "application/gpx+xml": {},
                "application/vnd.google-earth.kml+xml": {},
            }
        }
    },
)
def subject_positions(
    subject_id: uuid.UUID,
    session: DbSession,
    principal: ReadPositions,
    start: Annotated[AwareDatetime, Query(alias="from")],
    end: Annotated[AwareDatetime, Query(alias="to")],
    purpose: Purpose,
    format: TrailFormat = TrailFormat.geojson,
    include_flagged: bool = False,
    zoom: Annotated[int | None, Query(ge=0, le=22)] = None,
    purpose_detail: Annotated[str | None, Header(alias="X-Purpose-Detail", max_length=500)] = None,
) -> Response:
    """The trail between two times. The purpose (and its detail, sent as a header so it never
    sits in a URL) is written to the audit trail with the read. With ``zoom`` (a map zoom
    level) the trail is simplified to what shows at that zoom (at most 1,000 fixes)."""
    positions = service.positions_for_subject(
        session,
        principal=principal,
        subject_id=subject_id,
        start=start,
        end=end,
        purpose=purpose,
        purpose_detail=purpose_detail,
        now=utcnow(),
        include_flagged=include_flagged,
    )
    fixes = service.as_fixes(positions)
    if zoom is not None:
        fixes = simplify(fixes, zoom=zoom)
    if format == TrailFormat.gpx:
        return Response(exports.to_gpx(fixes), media_type="application/gpx+xml")
    if format == TrailFormat.kml:
        return Response(exports.to_kml(fixes), media_type="application/vnd.google-earth.kml+xml")
    return JSONResponse(exports.to_geojson(fixes), media_type="application/geo+json")
