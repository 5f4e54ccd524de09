"""An alert's evidence as GeoJSON: the track of its fixes and the zone as it was."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.principal import Principal
from openem.alerts.models import Alert, EvidenceKind
from openem.alerts.service import evidence_of
from openem.locations.service import positions_by_keys
from openem.zones import service as zones_service


def alert_geojson(session: Session, *, principal: Principal, alert: Alert) -> dict[str, Any]:
    evidence = evidence_of(session, alert=alert)
    keys = [
        (e.device_id, e.seq)
        for e in evidence
        if e.kind == EvidenceKind.position and e.device_id is not None and e.seq is not None
    ]
    positions = positions_by_keys(session, keys=keys)
    features: list[dict[str, Any]] = []
    if alert.zone_version_id is not None:
        version = zones_service.version_by_id(session, version_id=alert.zone_version_id)
        if version is not None:
            zone = zones_service.version_feature(version)
            zone["properties"]["role"] = "zone"
            features.append(zone)
    if len(positions) >= 2:
        features.append({
            "type": "Feature",
            "geometry": {"type": "LineString",
                         "coordinates": [[p.lon, p.lat] for p in positions]},
            "properties": {"role": "track"},
        })
    for p in positions:
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
            "properties": {
                "role": "fix", "device_id": str(p.device_id), "seq": p.seq,
                "fixed_at": p.fixed_at.isoformat(), "received_at": p.received_at.isoformat(),
                "accuracy_m": p.accuracy_m, "flags": p.flags.split(",") if p.flags else [],
            },
        })
    audit.record(session, principal=principal, action="alert.evidence", record_type="alert",
                 record_id=alert.id, subject_id=alert.subject_id)
    return {
        "type": "FeatureCollection",
        "properties": {"alert_id": str(alert.id), "type": alert.type,
                       "started_at": alert.started_at.isoformat(),
                       "ended_at": alert.ended_at.isoformat() if alert.ended_at else None},
        "features": features,
    }
