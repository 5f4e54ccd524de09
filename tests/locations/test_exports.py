"""Trail exports: GeoJSON, GPX 1.1 and KML 2.2."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

from openem.locations.exports import GPX_NS, KML_NS, to_geojson, to_gpx, to_kml
from openem.locations.quality import Fix

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
FIXES = [
    Fix(ts=T0 + timedelta(minutes=2), lat=51.5010, lon=-0.1420, accuracy_m=15.0),
    Fix(ts=T0, lat=51.5007, lon=-0.1246, accuracy_m=8.0, altitude_m=12.5),
    Fix(ts=T0 + timedelta(minutes=1), lat=51.5033, lon=-0.1196, accuracy_m=None),
]


def test_geojson_has_a_time_ordered_trail_then_one_point_per_fix() -> None:
    collection = to_geojson(FIXES)
    assert collection["type"] == "FeatureCollection"
    trail, *points = collection["features"]
    assert trail["geometry"] == {
        "type": "LineString",
        "coordinates": [[-0.1246, 51.5007], [-0.1196, 51.5033], [-0.142, 51.501]],
    }
    assert trail["properties"]["start"] == "2026-03-01T12:00:00Z"
    assert [p["properties"]["time"] for p in points] == [
        "2026-03-01T12:00:00Z",
        "2026-03-01T12:01:00Z",
        "2026-03-01T12:02:00Z",
    ]
    assert points[0]["geometry"]["coordinates"] == [-0.1246, 51.5007, 12.5]
    assert [p["properties"]["accuracy_m"] for p in points] == [8.0, None, 15.0]
    json.dumps(collection, allow_nan=False)  # strictly valid JSON


def test_geojson_of_a_single_fix_has_no_line() -> None:
    collection = to_geojson(FIXES[:1])
    assert [f["geometry"]["type"] for f in collection["features"]] == ["Point"]


def test_geojson_of_no_fixes_is_an_empty_collection() -> None:
    assert to_geojson([]) == {"type": "FeatureCollection", "features": []}


def test_gpx_is_gpx_1_1_with_one_track_point_per_fix() -> None:
    root = ET.fromstring(to_gpx(FIXES, name="Order 42"))
    ns = {"g": GPX_NS}
    assert root.tag == f"{{{GPX_NS}}}gpx"
    assert root.get("version") == "1.1"
    points = root.findall("g:trk/g:trkseg/g:trkpt", ns)
    assert [p.findtext("g:time", namespaces=ns) for p in points] == [
        "2026-03-01T12:00:00Z",
        "2026-03-01T12:01:00Z",
        "2026-03-01T12:02:00Z",
    ]
    assert points[0].get("lat") == "51.5007000"
    assert points[0].findtext("g:ele", namespaces=ns) == "12.5"
    assert points[0].findtext("g:desc", namespaces=ns) == "accuracy_m=8"
    assert root.findtext("g:trk/g:name", namespaces=ns) == "Order 42"


def test_kml_is_kml_2_2_with_a_line_and_timestamped_points() -> None:
    root = ET.fromstring(to_kml(FIXES, name="trail"))
    ns = {"k": KML_NS}
    assert root.tag == f"{{{KML_NS}}}kml"
    placemarks = root.findall("k:Document/k:Placemark", ns)
    assert len(placemarks) == 4
    line = placemarks[0].findtext("k:LineString/k:coordinates", namespaces=ns)
    assert line == "-0.1246000,51.5007000 -0.1196000,51.5033000 -0.1420000,51.5010000"
    assert placemarks[1].findtext("k:TimeStamp/k:when", namespaces=ns) == "2026-03-01T12:00:00Z"
    data = placemarks[1].find("k:ExtendedData/k:Data", ns)
    assert data is not None and data.get("name") == "accuracy_m"


def test_names_with_markup_and_control_characters_are_escaped() -> None:
    hostile = 'A & B <script>"x"</script>\x00\x1b'
    for document in (to_gpx(FIXES, name=hostile), to_kml(FIXES, name=hostile)):
        assert b"<script>" not in document
        root = ET.fromstring(document)  # still well-formed
        names = [el.text for el in root.iter() if el.tag.endswith("}name")]
        assert 'A & B <script>"x"</script>' in names


def test_xml_exports_declare_utf8() -> None:
    assert to_gpx(FIXES).startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert to_kml(FIXES).startswith(b"<?xml version='1.0' encoding='utf-8'?>")
