"""Trail exports: GeoJSON (RFC 7946), GPX 1.1 and KML 2.2.

Each export takes fixes (anything with ``ts``, ``lat``, ``lon`` and
optionally ``accuracy_m``, ``altitude_m``, ``speed_mps``), sorts them by
time, and produces a trail line plus one point per fix with its time and
accuracy. XML is built with ``xml.etree.ElementTree``, which escapes text and
attributes (the default namespace is an ``xmlns`` attribute on the root, so
no global ``register_namespace``); characters XML 1.0 cannot carry at all are removed from names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from openem.locations.quality import FixLike

__all__ = ["GPX_NS", "KML_NS", "to_geojson", "to_gpx", "to_kml"]

GPX_NS = "http://www.topografix.com/GPX/1/1"
KML_NS = "http://www.opengis.net/kml/2.2"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _utc(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _optional(fix: FixLike, name: str) -> float | None:
    value = getattr(fix, name, None)
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _clean(text: str) -> str:
    return _XML_INVALID.sub("", text)


def _sorted(fixes: Iterable[FixLike]) -> list[FixLike]:
    return sorted(fixes, key=lambda fix: fix.ts)


def to_geojson(fixes: Iterable[FixLike]) -> dict[str, Any]:
    """A FeatureCollection: one LineString trail (if 2+ fixes) then one Point per fix."""
    ordered = _sorted(fixes)
    features: list[dict[str, Any]] = []
    if len(ordered) >= 2:
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[fix.lon, fix.lat] for fix in ordered],
                },
                "properties": {
                    "kind": "trail",
                    "start": _utc(ordered[0].ts),
                    "end": _utc(ordered[-1].ts),
                },
            }
        )
    for fix in ordered:
        altitude = _optional(fix, "altitude_m")
        coordinates = [fix.lon, fix.lat] if altitude is None else [fix.lon, fix.lat, altitude]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": coordinates},
                "properties": {
                    "kind": "fix",
                    "time": _utc(fix.ts),
                    "accuracy_m": _optional(fix, "accuracy_m"),
                    "speed_mps": _optional(fix, "speed_mps"),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _serialize(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def to_gpx(fixes: Iterable[FixLike], *, name: str = "trail", creator: str = "OpenEM") -> bytes:
    """GPX 1.1: one ``trk``/``trkseg`` of ``trkpt`` with ``ele`` and ``time``.

    GPX has no accuracy element; it goes in ``<desc>`` as ``accuracy_m=...``.
    """
    root = ET.Element("gpx", {"xmlns": GPX_NS, "version": "1.1", "creator": _clean(creator)})
    track = ET.SubElement(root, "trk")
    ET.SubElement(track, "name").text = _clean(name)
    segment = ET.SubElement(track, "trkseg")
    for fix in _sorted(fixes):
        point = ET.SubElement(segment, "trkpt", {"lat": f"{fix.lat:.7f}", "lon": f"{fix.lon:.7f}"})
        altitude = _optional(fix, "altitude_m")
        if altitude is not None:
            ET.SubElement(point, "ele").text = f"{altitude:.1f}"
        ET.SubElement(point, "time").text = _utc(fix.ts)
        accuracy = _optional(fix, "accuracy_m")
        if accuracy is not None:
            ET.SubElement(point, "desc").text = f"accuracy_m={accuracy:g}"
    return _serialize(root)


def _kml_coordinates(fixes: Sequence[FixLike]) -> str:
    return " ".join(f"{fix.lon:.7f},{fix.lat:.7f}" for fix in fixes)


def to_kml(fixes: Iterable[FixLike], *, name: str = "trail") -> bytes:
    """KML 2.2: a Document with a trail Placemark (LineString) and one per fix."""
    ordered = _sorted(fixes)
    root = ET.Element("kml", {"xmlns": KML_NS})
    document = ET.SubElement(root, "Document")
    ET.SubElement(document, "name").text = _clean(name)
    if len(ordered) >= 2:
        trail = ET.SubElement(document, "Placemark")
        ET.SubElement(trail, "name").text = "trail"
        span = ET.SubElement(trail, "TimeSpan")
        ET.SubElement(span, "begin").text = _utc(ordered[0].ts)
        ET.SubElement(span, "end").text = _utc(ordered[-1].ts)
        line = ET.SubElement(trail, "LineString")
        ET.SubElement(line, "tessellate").text = "1"
        ET.SubElement(line, "coordinates").text = _kml_coordinates(ordered)
    for fix in ordered:
        placemark = ET.SubElement(document, "Placemark")
        ET.SubElement(placemark, "name").text = _utc(fix.ts)
        stamp = ET.SubElement(placemark, "TimeStamp")
        ET.SubElement(stamp, "when").text = _utc(fix.ts)
        accuracy = _optional(fix, "accuracy_m")
        if accuracy is not None:
            data = ET.SubElement(ET.SubElement(placemark, "ExtendedData"), "Data")
            data.set("name", "accuracy_m")
            ET.SubElement(data, "value").text = f"{accuracy:g}"
        point = ET.SubElement(placemark, "Point")
        ET.SubElement(point, "coordinates").text = _kml_coordinates([fix])
    return _serialize(root)
