from __future__ import annotations

import math
import re

import numpy as np
import pytest

from openem.zones.geometry import (
    Circle,
    Classification,
    LocalProjection,
    ZoneGeometryError,
    circle_as_polygon,
    classify,
    polygon_from_coordinates,
    shape_from_feature,
    shape_to_feature,
)
from tests.zones.vincenty import distance_m

LONDON = LocalProjection(origin_lat=51.5074, origin_lon=-0.1278)


def at_metres(projection: LocalProjection, *, east: float, north: float) -> tuple[float, float]:
    lats, lons = projection.inverse(xs=np.array([east]), ys=np.array([north]))
    return float(lats[0]), float(lons[0])


def square(*, half_m: float, projection: LocalProjection = LONDON) -> list[list[float]]:
    corners = [(-half_m, -half_m), (half_m, -half_m), (half_m, half_m), (-half_m, half_m)]
    ring = []
    for east, north in corners:
        lat, lon = at_metres(projection, east=east, north=north)
        ring.append([lon, lat])
    return [*ring, ring[0]]


def refused(coordinates: object) -> str:
    with pytest.raises(ZoneGeometryError) as caught:
        polygon_from_coordinates(coordinates)
    return str(caught.value)


def no_coordinates_in(message: str) -> bool:
    return re.search(r"\d+\.\d+", message) is None


def test_circle_radius_must_be_positive_and_at_most_50_km() -> None:
    with pytest.raises(ZoneGeometryError, match="greater than 0"):
        Circle(lat=51.5, lon=-0.1, radius_m=0.0)
    with pytest.raises(ZoneGeometryError, match="at most 50 km"):
        Circle(lat=51.5, lon=-0.1, radius_m=50_000.1)
    with pytest.raises(ZoneGeometryError, match="finite"):
        Circle(lat=51.5, lon=-0.1, radius_m=math.nan)
    assert Circle(lat=51.5, lon=-0.1, radius_m=50_000.0).radius_m == 50_000.0


def test_circle_centre_out_of_range_is_refused_without_naming_it() -> None:
    with pytest.raises(ZoneGeometryError, match="out of range") as caught:
        Circle(lat=91.25, lon=-0.1, radius_m=100.0)
    assert no_coordinates_in(str(caught.value))


def test_unclosed_ring_is_refused() -> None:
    ring = square(half_m=500.0)[:-1]
    assert "not closed" in refused([ring])


def test_self_intersecting_polygon_is_refused_without_coordinates() -> None:
    bowtie = [[-0.1, 51.5], [-0.09, 51.51], [-0.09, 51.5], [-0.1, 51.51], [-0.1, 51.5]]
    message = refused([bowtie])
    assert "self-intersection" in message
    assert no_coordinates_in(message)


def test_ring_with_fewer_than_three_distinct_points_is_refused() -> None:
    assert "fewer than 3 distinct" in refused([[[-0.1, 51.5], [-0.09, 51.5], [-0.1, 51.5]]])
    assert "fewer than 3 distinct" in refused(
        [[[-0.1, 51.5], [-0.09, 51.5], [-0.09, 51.5], [-0.1, 51.5]]]
    )


def test_out_of_range_coordinate_is_refused_without_naming_it() -> None:
    message = refused([[[-0.1, 51.5], [-0.09, 95.5], [-0.09, 51.51], [-0.1, 51.5]]])
    assert "out of range" in message
    assert no_coordinates_in(message)


def test_hole_outside_its_shell_is_refused() -> None:
    shell = square(half_m=500.0)
    far = LocalProjection(origin_lat=51.6, origin_lon=-0.1278)
    message = refused([shell, square(half_m=100.0, projection=far)])
    assert "hole lies outside shell" in message


def test_malformed_positions_are_refused() -> None:
    assert "[lon, lat]" in refused([[["a", 51.5], [-0.09, 51.5], [-0.09, 51.51], ["a", 51.5]]])
    assert "at least one ring" in refused([])


def test_polygon_larger_than_100_km_is_refused() -> None:
    assert "more than 100 km" in refused([[[-2.0, 51.0], [2.0, 51.0], [2.0, 52.5], [-2.0, 51.0]]])


def test_polygon_across_antimeridian_is_refused() -> None:
    assert "antimeridian" in refused(
        [[[179.9, 10.0], [-179.9, 10.0], [-179.9, 10.1], [179.9, 10.0]]]
    )


@pytest.mark.parametrize("latitude", [0.0, 51.5, -33.9, 70.0, 89.0])
def test_projected_distance_matches_ellipsoid_within_a_centimetre_at_50_km(
    latitude: float,
) -> None:
    projection = LocalProjection(origin_lat=latitude, origin_lon=12.0)
    for bearing in range(0, 360, 15):
        for radius in (10.0, 1_000.0, 25_000.0, 50_000.0):
            east = radius * math.sin(math.radians(bearing))
            north = radius * math.cos(math.radians(bearing))
            lat, lon = at_metres(projection, east=east, north=north)
            x, y = projection.forward(lats=np.array([lat]), lons=np.array([lon]))
            assert math.hypot(x[0] - east, y[0] - north) < 1e-4
            ellipsoidal = distance_m(lat1=latitude, lon1=12.0, lat2=lat, lon2=lon)
            assert abs(ellipsoidal - radius) < 0.01


def test_projected_lengths_near_the_edge_of_a_large_zone_are_true_to_a_millimetre() -> None:
    lat_a, lon_a = at_metres(LONDON, east=49_000.0, north=10_000.0)
    lat_b, lon_b = at_metres(LONDON, east=49_100.0, north=10_050.0)
    xs, ys = LONDON.forward(lats=np.array([lat_a, lat_b]), lons=np.array([lon_a, lon_b]))
    projected = math.hypot(xs[1] - xs[0], ys[1] - ys[0])
    assert abs(projected - distance_m(lat1=lat_a, lon1=lon_a, lat2=lat_b, lon2=lon_b)) < 0.002


@pytest.mark.parametrize(
    ("distance", "accuracy", "expected"),
    [
        (990.0, 5.0, Classification.INSIDE),
        (990.0, 9.99, Classification.INSIDE),
        (990.0, 20.0, Classification.UNCERTAIN),
        (1_010.0, 5.0, Classification.OUTSIDE),
        (1_010.0, 10.01, Classification.UNCERTAIN),
        (999.999, 0.0, Classification.INSIDE),
        (1_000.5, 0.0, Classification.OUTSIDE),
        (0.0, 999.0, Classification.INSIDE),
        (0.0, 1_001.0, Classification.UNCERTAIN),
    ],
)
def test_fix_accuracy_circle_against_circular_zone(
    distance: float, accuracy: float, expected: Classification
) -> None:
    zone = Circle(lat=LONDON.origin_lat, lon=LONDON.origin_lon, radius_m=1_000.0)
    lat, lon = at_metres(LONDON, east=distance * 0.6, north=distance * 0.8)
    assert classify(shape=zone, lat=lat, lon=lon, accuracy_m=accuracy) == expected


@pytest.mark.parametrize(
    ("east", "north", "accuracy", "expected"),
    [
        (490.0, 0.0, 5.0, Classification.INSIDE),
        (490.0, 0.0, 15.0, Classification.UNCERTAIN),
        (510.0, 0.0, 5.0, Classification.OUTSIDE),
        (510.0, 0.0, 15.0, Classification.UNCERTAIN),
        (499.999, 0.0, 0.0, Classification.INSIDE),
        (500.0, 0.0, 0.5, Classification.UNCERTAIN),
        (506.0, 508.0, 9.0, Classification.OUTSIDE),
        (506.0, 508.0, 11.0, Classification.UNCERTAIN),
        (0.0, 0.0, 40.0, Classification.OUTSIDE),
        (0.0, 0.0, 60.0, Classification.UNCERTAIN),
        (0.0, 300.0, 150.0, Classification.INSIDE),
    ],
)
def test_fix_accuracy_circle_against_polygon_with_a_hole(
    east: float, north: float, accuracy: float, expected: Classification
) -> None:
    zone = polygon_from_coordinates([square(half_m=500.0), square(half_m=50.0)])
    lat, lon = at_metres(zone.projection, east=east, north=north)
    assert classify(shape=zone, lat=lat, lon=lon, accuracy_m=accuracy) == expected


def test_fix_accuracy_must_be_finite_and_not_negative() -> None:
    zone = Circle(lat=51.5, lon=-0.1, radius_m=100.0)
    for accuracy in (-1.0, math.inf, math.nan):
        with pytest.raises(ZoneGeometryError, match="accuracy"):
            classify(shape=zone, lat=51.5, lon=-0.1, accuracy_m=accuracy)


def test_polygon_feature_round_trips_with_its_properties() -> None:
    zone = polygon_from_coordinates([square(half_m=500.0), square(half_m=50.0)])
    feature = shape_to_feature(shape=zone, properties={"name": "home", "kind": "inclusion"})
    assert feature["geometry"]["type"] == "Polygon"
    shape, properties = shape_from_feature(feature)
    assert shape == zone
    assert properties == {"name": "home", "kind": "inclusion"}


def test_circle_exports_as_point_with_radius_and_round_trips() -> None:
    zone = Circle(lat=51.5, lon=-0.1, radius_m=250.0)
    feature = shape_to_feature(shape=zone, properties={"name": "home"})
    assert feature["geometry"] == {"type": "Point", "coordinates": [-0.1, 51.5]}
    assert feature["properties"] == {"name": "home", "radius_m": 250.0}
    assert shape_from_feature(feature) == (zone, {"name": "home"})


def test_circle_exports_as_polygon_approximation_on_request() -> None:
    zone = Circle(lat=51.5, lon=-0.1, radius_m=250.0)
    feature = shape_to_feature(shape=zone, circle_as_polygon_segments=32)
    assert feature["geometry"]["type"] == "Polygon"
    assert feature["properties"]["radius_m"] == 250.0
    ring = feature["geometry"]["coordinates"][0]
    assert len(ring) == 33 and ring[0] == ring[-1]
    for lon, lat in ring:
        assert abs(distance_m(lat1=51.5, lon1=-0.1, lat2=lat, lon2=lon) - 250.0) < 0.01
    shape, _ = shape_from_feature(feature)
    assert shape == circle_as_polygon(zone, segments=32)


def test_point_feature_without_radius_is_refused() -> None:
    with pytest.raises(ZoneGeometryError, match="radius_m"):
        shape_from_feature({"type": "Feature", "geometry": {"type": "Point",
                                                            "coordinates": [0.0, 0.0]},
                            "properties": {}})
    with pytest.raises(ZoneGeometryError, match="Polygon or a Point"):
        shape_from_feature({"type": "LineString", "coordinates": [[0.0, 0.0], [1.0, 1.0]]})
