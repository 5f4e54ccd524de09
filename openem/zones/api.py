"""Staff API: a subject's zones, their versions, GeoJSON import and export."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse

from openem.access.principal import Principal
from openem.db.base import utcnow
from openem.http.deps import DbSession, requires
from openem.zones import service
from openem.zones.models import ZoneVersion
from openem.zones.schemas import ZoneCreate, ZoneOut, ZoneUpdate

router = APIRouter(prefix="/api/v1", tags=["zones"])
ReadZones = Annotated[Principal, Depends(requires("zones:read"))]
WriteZones = Annotated[Principal, Depends(requires("zones:write"))]


@router.post("/subjects/{subject_id}/zones", status_code=201, response_model=ZoneOut)
def create_zone(
    subject_id: uuid.UUID, data: ZoneCreate, session: DbSession, principal: WriteZones
) -> ZoneVersion:
    return service.create_zone(
        session, principal=principal, subject_id=subject_id, data=data, now=utcnow()
    )


@router.get("/subjects/{subject_id}/zones", response_model=list[ZoneOut])
def list_zones(
    subject_id: uuid.UUID, session: DbSession, principal: ReadZones, include_retired: bool = False
) -> list[ZoneVersion]:
    return service.list_zones(
        session, principal=principal, subject_id=subject_id, include_retired=include_retired
    )


@router.get("/subjects/{subject_id}/zones.geojson")
def export_zones(subject_id: uuid.UUID, session: DbSession, principal: ReadZones) -> JSONResponse:
    collection = service.export_geojson(session, principal=principal, subject_id=subject_id)
    return JSONResponse(collection, media_type="application/geo+json")


@router.post("/subjects/{subject_id}/zones.geojson", status_code=201,
             response_model=list[ZoneOut])
def import_zones(
    subject_id: uuid.UUID,
    collection: Annotated[dict[str, Any], Body()],
    session: DbSession,
    principal: WriteZones,
) -> list[ZoneVersion]:
    """A FeatureCollection; each feature's properties give name, kind, schedule, absences."""
    return service.import_geojson(
        session, principal=principal, subject_id=subject_id, collection=collection, now=utcnow()
    )


@router.get("/zones/{zone_id}", response_model=ZoneOut)
def get_zone(zone_id: uuid.UUID, session: DbSession, principal: ReadZones) -> ZoneVersion:
    return service.get_zone(session, principal=principal, zone_id=zone_id)


@router.patch("/zones/{zone_id}", response_model=ZoneOut)
def update_zone(
    zone_id: uuid.UUID, data: ZoneUpdate, session: DbSession, principal: WriteZones
) -> ZoneVersion:
    return service.update_zone(session, principal=principal, zone_id=zone_id, data=data,
                               now=utcnow())


@router.delete("/zones/{zone_id}", response_model=ZoneOut)
def retire_zone(zone_id: uuid.UUID, session: DbSession, principal: WriteZones) -> ZoneVersion:
    """Retiring adds a last version; the zone's history stays."""
    return service.retire_zone(session, principal=principal, zone_id=zone_id, now=utcnow())


@router.get("/zones/{zone_id}/versions", response_model=list[ZoneOut])
def zone_versions(
    zone_id: uuid.UUID, session: DbSession, principal: ReadZones
) -> list[ZoneVersion]:
    return service.list_versions(session, principal=principal, zone_id=zone_id)
