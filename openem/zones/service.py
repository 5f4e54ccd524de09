"""Zones per subject: create, change (a new version each time), retire, import and export.

Every input is validated in full before anything is added to the session, so a
refused zone writes nothing. Errors name the problem and the field, never a
coordinate.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openem.access import audit, caseload
from openem.access.policy import require
from openem.access.principal import Principal
from openem.errors import Invalid, NotFound
from openem.subjects.models import Subject
from openem.zones.geometry import ZoneGeometryError, ZoneShape, shape_from_feature, shape_to_feature
from openem.zones.index import ZoneAssignment, ZoneKind
from openem.zones.models import Zone, ZoneVersion
from openem.zones.schedule import Absence, Schedule, ScheduleError, Window
from openem.zones.schemas import AbsenceIn, ScheduleIn, ZoneCreate, ZoneUpdate

MAX_ZONES_PER_SUBJECT = 20
MAX_IMPORT = 20
ALL_DAY = Window(days=frozenset(range(7)), start=time(0), end=time(0), overnight=True)


def _subject(session: Session, *, principal: Principal, subject_id: uuid.UUID) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound("no such subject")
    caseload.require_subject(principal, caseload_team=subject.caseload_team)
    return subject


def parse_shape(geometry: dict[str, Any], radius_m: float | None) -> ZoneShape:
    """The zone shape from a GeoJSON geometry or Feature (a Point needs ``radius_m``)."""
    feature: dict[str, Any] = (
        geometry
        if geometry.get("type") == "Feature"
        else {"type": "Feature", "geometry": geometry, "properties": {}}
    )
    if radius_m is not None:
        properties: dict[str, Any] = dict(feature.get("properties") or {})
        feature = feature | {"properties": properties | {"radius_m": radius_m}}
    try:
        shape, _ = shape_from_feature(feature)
    except ZoneGeometryError as error:
        raise Invalid(error.detail, field="geometry") from None
    return shape


def parse_schedule(
    schedule: ScheduleIn | None, absences: Sequence[AbsenceIn], *, default_timezone: str
) -> Schedule | None:
    """A schedule, or None for a zone that always applies (absences alone make one)."""
    if schedule is None and not absences:
        return None
    timezone = (schedule.timezone if schedule else None) or default_timezone
    try:
        windows = tuple(
            Window(days=frozenset(w.days), start=w.start, end=w.end, overnight=w.overnight)
            for w in (schedule.windows if schedule else [])
        ) or (ALL_DAY,)
        gaps = tuple(Absence(start=a.start, end=a.end, reference=a.reference) for a in absences)
        return Schedule(timezone=timezone, windows=windows, absences=gaps)
    except ScheduleError as error:
        field = "absences" if "absence" in error.detail else "schedule"
        raise Invalid(error.detail, field=field) from None


def _store_version(
    session: Session,
    *,
    zone: Zone,
    version: int,
    name: str,
    shape: ZoneShape,
    schedule: Schedule | None,
    retired: bool,
    principal: Principal,
    now: datetime,
) -> ZoneVersion:
    row = ZoneVersion(
        zone_id=zone.id,
        subject_id=zone.subject_id,
        version=version,
        name=name,
        kind=zone.kind,
        shape=shape_to_feature(shape=shape)["geometry"] | _radius(shape),
        schedule=schedule.to_dict() if schedule else None,
        retired=retired,
        valid_from=now,
        created_at=now,
        created_by=principal.user_id,
    )
    zone.current_version = version
    session.add(row)
    session.flush()
    return row


def _radius(shape: ZoneShape) -> dict[str, Any]:
    feature = shape_to_feature(shape=shape)
    radius = feature["properties"].get("radius_m")
    return {} if radius is None else {"radius_m": radius}


def create_zone(
    session: Session, *, principal: Principal, subject_id: uuid.UUID, data: ZoneCreate,
    now: datetime,
) -> ZoneVersion:
    require(principal, "zones:write")
    subject = _subject(session, principal=principal, subject_id=subject_id)
    shape = parse_shape(data.geometry, data.radius_m)
    schedule = parse_schedule(data.schedule, data.absences, default_timezone=subject.timezone)
    live = select(func.count()).select_from(Zone).where(
        Zone.subject_id == subject_id, Zone.retired_at.is_(None)
    )
    if (session.scalar(live) or 0) >= MAX_ZONES_PER_SUBJECT:
        raise Invalid(f"a subject may have at most {MAX_ZONES_PER_SUBJECT} zones", field="kind")
    zone = Zone(subject_id=subject_id, kind=data.kind, created_at=now)
    session.add(zone)
    session.flush()
    row = _store_version(
        session, zone=zone, version=1, name=data.name, shape=shape, schedule=schedule,
        retired=False, principal=principal, now=now,
    )
    _audit(session, principal=principal, action="zone.create", row=row)
    return row


def update_zone(
    session: Session, *, principal: Principal, zone_id: uuid.UUID, data: ZoneUpdate,
    now: datetime,
) -> ZoneVersion:
    require(principal, "zones:write")
    zone, current = _current(session, principal=principal, zone_id=zone_id)
    if zone.retired_at is not None:
        raise Invalid("the zone is retired; create a new one", field="zone_id")
    subject = _subject(session, principal=principal, subject_id=zone.subject_id)
    shape = (
        parse_shape(data.geometry, data.radius_m)
        if data.geometry is not None
        else shape_of(current)
    )
    if data.clear_schedule:
        schedule = None
    elif data.schedule is None and data.absences is None:
        schedule = schedule_of(current)
    else:
        old = schedule_of(current)
        windows = data.schedule if data.schedule is not None else _schedule_in(old)
        absences = data.absences if data.absences is not None else _absences_in(old)
        schedule = parse_schedule(windows, absences, default_timezone=subject.timezone)
    row = _store_version(
        session, zone=zone, version=current.version + 1, name=data.name or current.name,
        shape=shape, schedule=schedule, retired=False, principal=principal, now=now,
    )
    _audit(session, principal=principal, action="zone.update", row=row)
    return row


def retire_zone(
    session: Session, *, principal: Principal, zone_id: uuid.UUID, now: datetime
) -> ZoneVersion:
    """A zone is never deleted: its last version says it no longer applies."""
    require(principal, "zones:write")
    zone, current = _current(session, principal=principal, zone_id=zone_id)
    if zone.retired_at is not None:
        return current
    zone.retired_at = now
    row = _store_version(
        session, zone=zone, version=current.version + 1, name=current.name,
        shape=shape_of(current), schedule=schedule_of(current), retired=True,
        principal=principal, now=now,
    )
    _audit(session, principal=principal, action="zone.retire", row=row)
    return row


def get_zone(session: Session, *, principal: Principal, zone_id: uuid.UUID) -> ZoneVersion:
    require(principal, "zones:read")
    _, current = _current(session, principal=principal, zone_id=zone_id)
    _audit(session, principal=principal, action="zone.read", row=current)
    return current


def list_zones(
    session: Session, *, principal: Principal, subject_id: uuid.UUID, include_retired: bool = False
) -> list[ZoneVersion]:
    require(principal, "zones:read")
    _subject(session, principal=principal, subject_id=subject_id)
    current = (Zone.id == ZoneVersion.zone_id) & (Zone.current_version == ZoneVersion.version)
    query = (
        select(ZoneVersion)
        .join(Zone, current)
        .where(Zone.subject_id == subject_id)
        .order_by(Zone.created_at, ZoneVersion.name, ZoneVersion.id)
    )
    if not include_retired:
        query = query.where(Zone.retired_at.is_(None))
    rows = list(session.scalars(query))
    audit.record(session, principal=principal, action="zone.list", record_type="zone",
                 subject_id=subject_id)
    return rows


def list_versions(
    session: Session, *, principal: Principal, zone_id: uuid.UUID
) -> list[ZoneVersion]:
    require(principal, "zones:read")
    zone, current = _current(session, principal=principal, zone_id=zone_id)
    rows = list(
        session.scalars(
            select(ZoneVersion).where(ZoneVersion.zone_id == zone.id).order_by(ZoneVersion.version)
        )
    )
    _audit(session, principal=principal, action="zone.versions", row=current)
    return rows


def export_geojson(
    session: Session, *, principal: Principal, subject_id: uuid.UUID
) -> dict[str, Any]:
    rows = list_zones(session, principal=principal, subject_id=subject_id)
    return {"type": "FeatureCollection", "features": [version_feature(row) for row in rows]}


def import_geojson(
    session: Session, *, principal: Principal, subject_id: uuid.UUID, collection: dict[str, Any],
    now: datetime,
) -> list[ZoneVersion]:
    """Zones from a FeatureCollection; properties carry name, kind, schedule and absences.

    All features are checked before any is stored: one bad feature refuses the lot.
    """
    require(principal, "zones:write")
    features = collection.get("features")
    if collection.get("type") != "FeatureCollection" or not isinstance(features, list):
        raise Invalid("expected a GeoJSON FeatureCollection", field="features")
    if not 1 <= len(features) <= MAX_IMPORT:
        raise Invalid(f"import 1 to {MAX_IMPORT} zones at a time", field="features")
    subject = _subject(session, principal=principal, subject_id=subject_id)
    parsed: list[ZoneCreate] = []
    for number, feature in enumerate(features):
        data = _feature_to_create(feature, number=number)
        try:
            parse_shape(data.geometry, data.radius_m)
            parse_schedule(data.schedule, data.absences, default_timezone=subject.timezone)
        except Invalid as error:
            raise Invalid(f"feature {number}: {error.detail}",
                          field=f"features.{number}.{error.field}") from None
        parsed.append(data)
    return [
        create_zone(session, principal=principal, subject_id=subject_id, data=data, now=now)
        for data in parsed
    ]


def _feature_to_create(feature: Any, *, number: int) -> ZoneCreate:
    from pydantic import ValidationError

    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise Invalid(f"feature {number} is not a GeoJSON Feature", field=f"features.{number}")
    properties = dict(feature.get("properties") or {})
    try:
        return ZoneCreate.model_validate(
            {
                "name": properties.get("name"),
                "kind": properties.get("kind"),
                "geometry": feature.get("geometry") or {},
                "radius_m": properties.get("radius_m"),
                "schedule": properties.get("schedule"),
                "absences": properties.get("absences") or [],
            }
        )
    except ValidationError as error:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in error.errors()})
        raise Invalid(
            f"feature {number}: invalid {', '.join(fields)}", field=f"features.{number}"
        ) from None


def version_feature(row: ZoneVersion) -> dict[str, Any]:
    """The version as a GeoJSON Feature (circles as a Point with ``radius_m``)."""
    geometry = {k: v for k, v in row.shape.items() if k != "radius_m"}
    properties: dict[str, Any] = {
        "zone_id": str(row.zone_id),
        "version": row.version,
        "name": row.name,
        "kind": row.kind,
        "valid_from": row.valid_from.isoformat(),
        "retired": row.retired,
    }
    if "radius_m" in row.shape:
        properties["radius_m"] = row.shape["radius_m"]
    if row.schedule is not None:
        properties["schedule"] = {k: v for k, v in row.schedule.items() if k != "absences"}
        properties["absences"] = row.schedule.get("absences", [])
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def shape_of(row: ZoneVersion) -> ZoneShape:
    return parse_shape({k: v for k, v in row.shape.items() if k != "radius_m"},
                       row.shape.get("radius_m"))


def schedule_of(row: ZoneVersion) -> Schedule | None:
    return None if row.schedule is None else Schedule.from_dict(row.schedule)


def assignment_of(row: ZoneVersion) -> ZoneAssignment:
    return ZoneAssignment(
        subject_id=row.subject_id, zone_id=row.zone_id, kind=ZoneKind(row.kind),
        shape=shape_of(row), schedule=schedule_of(row),
    )


def current_versions(session: Session) -> list[ZoneVersion]:
    """Every zone that applies now, at its current version (for the rules' index)."""
    query = select(ZoneVersion).join(
        Zone, (Zone.id == ZoneVersion.zone_id) & (Zone.current_version == ZoneVersion.version)
    ).where(Zone.retired_at.is_(None))
    return list(session.scalars(query))


def versions_fingerprint(session: Session) -> tuple[int, datetime | None]:
    """Changes whenever any zone changes: the rules rebuild their index on a change."""
    row = session.execute(select(func.count(), func.max(ZoneVersion.created_at))).one()
    return int(row[0]), row[1]


def version_in_force(
    session: Session, *, zone_id: uuid.UUID, at: datetime
) -> ZoneVersion | None:
    """The version that applied at ``at`` (None before the zone existed or once retired)."""
    row = session.scalars(
        select(ZoneVersion)
        .where(ZoneVersion.zone_id == zone_id, ZoneVersion.valid_from <= at)
        .order_by(ZoneVersion.version.desc())
        .limit(1)
    ).first()
    return None if row is None or row.retired else row


def versions_of(session: Session, *, zone_id: uuid.UUID) -> list[ZoneVersion]:
    """Every version of a zone, oldest first (no access check: for the rules)."""
    query = select(ZoneVersion).where(ZoneVersion.zone_id == zone_id)
    return list(session.scalars(query.order_by(ZoneVersion.version)))


def version_by_id(session: Session, *, version_id: uuid.UUID) -> ZoneVersion | None:
    return session.get(ZoneVersion, version_id)


def _current(
    session: Session, *, principal: Principal, zone_id: uuid.UUID
) -> tuple[Zone, ZoneVersion]:
    zone = session.get(Zone, zone_id)
    if zone is None:
        raise NotFound("no such zone")
    _subject(session, principal=principal, subject_id=zone.subject_id)
    current = session.scalars(
        select(ZoneVersion).where(
            ZoneVersion.zone_id == zone.id, ZoneVersion.version == zone.current_version
        )
    ).one()
    return zone, current


def _schedule_in(schedule: Schedule | None) -> ScheduleIn | None:
    if schedule is None:
        return None
    data = schedule.to_dict()
    return ScheduleIn.model_validate({"timezone": data["timezone"], "windows": data["windows"]})


def _absences_in(schedule: Schedule | None) -> list[AbsenceIn]:
    if schedule is None:
        return []
    return [AbsenceIn.model_validate(a) for a in schedule.to_dict()["absences"]]


def _audit(session: Session, *, principal: Principal, action: str, row: ZoneVersion) -> None:
    audit.record(session, principal=principal, action=action, record_type="zone",
                 record_id=row.zone_id, subject_id=row.subject_id)


