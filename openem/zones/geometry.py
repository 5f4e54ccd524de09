"""Zone shapes on WGS84 lon/lat and the classification of a fix with its accuracy.

Distances are measured in a local azimuthal equidistant projection on the WGS84
ellipsoid around each zone's centre: the distance from the centre is the
ellipsoidal distance to within millimetres at 50 km, and lengths elsewhere are
off by less than 2e-5 of themselves. Polygon edges are straight in that projection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry import Polygon as ShapelyPolygon

from openem.errors import Invalid

WGS84_A = 6_378_137.0
WGS84_F = 1 / 298.257223563
WGS84_E2 = WGS84_F * (2 - WGS84_F)
MAX_CIRCLE_RADIUS_M = 50_000.0
MAX_POLYGON_EXTENT_M = 100_000.0
BOUNDARY_EPSILON_M = 1e-9

Floats = np.ndarray[Any, np.dtype[np.float64]]


class ZoneGeometryError(Invalid):
    """A zone shape was refused; the message names the problem, never a coordinate."""


class Classification(IntEnum):
    OUTSIDE = 0
    INSIDE = 1
    UNCERTAIN = 2


def ecef(*, lats: Floats, lons: Floats) -> tuple[Floats, Floats, Floats]:
    lat = np.radians(lats)
    lon = np.radians(lons)
    sin_lat = np.sin(lat)
    cos_lat = np.cos(lat)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sin_lat * sin_lat)
    return n * cos_lat * np.cos(lon), n * cos_lat * np.sin(lon), n * (1.0 - WGS84_E2) * sin_lat


@dataclass(frozen=True)
class LocalProjection:
    """Azimuthal equidistant projection (metres) around an origin on the WGS84 ellipsoid."""

    origin_lat: float
    origin_lon: float

    @property
    def origin_ecef(self) -> tuple[float, float, float]:
        x, y, z = ecef(lats=np.array([self.origin_lat]), lons=np.array([self.origin_lon]))
        return float(x[0]), float(y[0]), float(z[0])

    @property
    def rotation(self) -> tuple[float, float, float, float]:
        """(sin lat0, cos lat0, sin lon0, cos lon0)."""
        lat = math.radians(self.origin_lat)
        lon = math.radians(self.origin_lon)
        return math.sin(lat), math.cos(lat), math.sin(lon), math.cos(lon)

    @property
    def inv_24r2(self) -> float:
        sin_lat = math.sin(math.radians(self.origin_lat))
        w2 = 1.0 - WGS84_E2 * sin_lat * sin_lat
        meridian = WGS84_A * (1.0 - WGS84_E2) / w2**1.5
        normal = WGS84_A / math.sqrt(w2)
        return 1.0 / (24.0 * meridian * normal)

    def forward(self, *, lats: Floats, lons: Floats) -> tuple[Floats, Floats]:
        x0, y0, z0 = self.origin_ecef
        x, y, z = ecef(lats=np.asarray(lats, dtype=float), lons=np.asarray(lons, dtype=float))
        return plane_from_offsets(
            dx=x - x0, dy=y - y0, dz=z - z0, rotation=self.rotation, inv_24r2=self.inv_24r2
        )

    def inverse(self, *, xs: Floats, ys: Floats) -> tuple[Floats, Floats]:
        xs = np.asarray(xs, dtype=float)
        ys = np.asarray(ys, dtype=float)
        target_x, target_y = xs.copy(), ys.copy()
        lat, lon = self._spherical_inverse(xs=target_x, ys=target_y)
        for _ in range(8):
            fx, fy = self.forward(lats=lat, lons=lon)
            target_x = target_x + (xs - fx)
            target_y = target_y + (ys - fy)
            lat, lon = self._spherical_inverse(xs=target_x, ys=target_y)
        return lat, lon

    def _spherical_inverse(self, *, xs: Floats, ys: Floats) -> tuple[Floats, Floats]:
        radius = math.sqrt(1.0 / (24.0 * self.inv_24r2))
        sin_lat0, cos_lat0, _, _ = self.rotation
        rho = np.hypot(xs, ys)
        c = rho / radius
        safe_rho = np.where(rho > 0.0, rho, 1.0)
        sin_c, cos_c = np.sin(c), np.cos(c)
        lat = np.arcsin(np.clip(cos_c * sin_lat0 + ys * sin_c * cos_lat0 / safe_rho, -1.0, 1.0))
        dlon = np.arctan2(xs * sin_c, rho * cos_lat0 * cos_c - ys * sin_lat0 * sin_c)
        lon = (self.origin_lon + np.degrees(dlon) + 180.0) % 360.0 - 180.0
        return np.degrees(lat), lon


def plane_from_offsets(
    *,
    dx: Floats,
    dy: Floats,
    dz: Floats,
    rotation: tuple[Floats | float, Floats | float, Floats | float, Floats | float],
    inv_24r2: Floats | float,
) -> tuple[Floats, Floats]:
    """Projected (east, north) metres from ECEF offsets to the projection origin."""
    sin_lat, cos_lat, sin_lon, cos_lon = rotation
    east = cos_lon * dy - sin_lon * dx
    north = cos_lat * dz - sin_lat * (cos_lon * dx + sin_lon * dy)
    chord2 = dx * dx + dy * dy + dz * dz
    horizontal2 = east * east + north * north
    safe = np.where(horizontal2 > 0.0, horizontal2, 1.0)
    scale = np.where(
        horizontal2 > 0.0, np.sqrt(chord2 / safe) * (1.0 + chord2 * inv_24r2), 1.0
    )
    return east * scale, north * scale


@dataclass(frozen=True)
class Circle:
    lat: float
    lon: float
    radius_m: float

    def __post_init__(self) -> None:
        _check_position(lon=self.lon, lat=self.lat)
        if not isinstance(self.radius_m, int | float) or not math.isfinite(self.radius_m):
            raise ZoneGeometryError("circle radius must be a finite number of metres")
        if self.radius_m <= 0:
            raise ZoneGeometryError("circle radius must be greater than 0 m")
        if self.radius_m > MAX_CIRCLE_RADIUS_M:
            raise ZoneGeometryError("circle radius must be at most 50 km")

    @property
    def projection(self) -> LocalProjection:
        return LocalProjection(origin_lat=float(self.lat), origin_lon=float(self.lon))


@dataclass(frozen=True)
class Polygon:
    """A GeoJSON Polygon: closed rings of (lon, lat); the first is the shell, others holes."""

    rings: tuple[tuple[tuple[float, float], ...], ...]

    def __post_init__(self) -> None:
        _check_polygon(self.rings)

    @property
    def projection(self) -> LocalProjection:
        return _polygon_projection(self.rings)

    def projected_rings(self) -> list[Floats]:
        """Each ring as an (n, 2) array of projected metres, closed (last == first)."""
        return [_projected_ring(self.rings, i) for i in range(len(self.rings))]

    def projected_shape(self) -> ShapelyPolygon:
        rings = self.projected_rings()
        return ShapelyPolygon(rings[0], rings[1:])


ZoneShape = Circle | Polygon


def polygon_from_coordinates(coordinates: Any) -> Polygon:
    if not isinstance(coordinates, list | tuple) or not coordinates:
        raise ZoneGeometryError("polygon needs at least one ring")
    rings: list[tuple[tuple[float, float], ...]] = []
    for ring in coordinates:
        if not isinstance(ring, list | tuple):
            raise ZoneGeometryError("polygon ring must be a list of positions")
        positions: list[tuple[float, float]] = []
        for position in ring:
            if (
                not isinstance(position, list | tuple)
                or len(position) not in (2, 3)
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in position)
            ):
                raise ZoneGeometryError("polygon position must be [lon, lat] numbers")
            positions.append((float(position[0]), float(position[1])))
        rings.append(tuple(positions))
    return Polygon(rings=tuple(rings))


def classify(*, shape: ZoneShape, lat: float, lon: float, accuracy_m: float) -> Classification:
    """Where a fix's accuracy circle lies relative to a zone (reference implementation)."""
    _check_position(lon=lon, lat=lat)
    if not math.isfinite(accuracy_m) or accuracy_m < 0:
        raise ZoneGeometryError("fix accuracy must be a finite number of metres, 0 or more")
    xs, ys = shape.projection.forward(lats=np.array([lat]), lons=np.array([lon]))
    x, y = float(xs[0]), float(ys[0])
    if isinstance(shape, Circle):
        distance = math.hypot(x, y)
        if distance + accuracy_m <= shape.radius_m:
            return Classification.INSIDE
        if distance - accuracy_m > shape.radius_m:
            return Classification.OUTSIDE
        return Classification.UNCERTAIN
    projected = _projected_shapely(shape.rings)
    point = ShapelyPoint(x, y)
    to_boundary = float(projected.boundary.distance(point))
    covered = bool(projected.covers(point)) or to_boundary <= BOUNDARY_EPSILON_M
    if covered and to_boundary >= accuracy_m:
        return Classification.INSIDE
    if not covered and to_boundary > accuracy_m:
        return Classification.OUTSIDE
    return Classification.UNCERTAIN


def circle_as_polygon(circle: Circle, *, segments: int = 64) -> Polygon:
    """Approximation of a circle with its vertices on the circle."""
    if segments < 8:
        raise ZoneGeometryError("a circle approximation needs at least 8 segments")
    angles = np.linspace(0.0, 2.0 * math.pi, segments, endpoint=False)
    lats, lons = circle.projection.inverse(
        xs=circle.radius_m * np.sin(angles), ys=circle.radius_m * np.cos(angles)
    )
    ring = [(float(lo), float(la)) for lo, la in zip(lons[::-1], lats[::-1], strict=True)]
    ring.append(ring[0])
    return Polygon(rings=(tuple(ring),))


def shape_to_geometry(shape: ZoneShape) -> dict[str, Any]:
    if isinstance(shape, Circle):
        return {"type": "Point", "coordinates": [shape.lon, shape.lat]}
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring] for ring in shape.rings]}


def shape_to_feature(
    *,
    shape: ZoneShape,
    properties: dict[str, Any] | None = None,
    circle_as_polygon_segments: int | None = None,
) -> dict[str, Any]:
    """A GeoJSON Feature; a circle is a Point with `radius_m`, or a polygon when asked."""
    props = dict(properties or {})
    if isinstance(shape, Circle):
        props["radius_m"] = shape.radius_m
        if circle_as_polygon_segments is not None:
            approximation = circle_as_polygon(shape, segments=circle_as_polygon_segments)
            props["center"] = [shape.lon, shape.lat]
            return {"type": "Feature", "geometry": shape_to_geometry(approximation),
                    "properties": props}
    return {"type": "Feature", "geometry": shape_to_geometry(shape), "properties": props}


def shape_from_feature(feature: Any) -> tuple[ZoneShape, dict[str, Any]]:
    """The zone shape and remaining properties of a GeoJSON Feature (or bare geometry)."""
    if not isinstance(feature, dict):
        raise ZoneGeometryError("GeoJSON must be an object")
    if feature.get("type") == "Feature":
        geometry = feature.get("geometry")
        properties = dict(feature.get("properties") or {})
    else:
        geometry, properties = feature, {}
    if not isinstance(geometry, dict):
        raise ZoneGeometryError("GeoJSON feature has no geometry")
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind == "Polygon":
        properties.pop("radius_m", None)
        properties.pop("center", None)
        return polygon_from_coordinates(coordinates), properties
    if kind == "Point":
        radius = properties.pop("radius_m", None)
        if radius is None:
            raise ZoneGeometryError("a Point zone needs a radius_m property")
        if (
            not isinstance(coordinates, list | tuple)
            or len(coordinates) not in (2, 3)
            or not all(isinstance(v, int | float) for v in coordinates)
        ):
            raise ZoneGeometryError("Point coordinates must be [lon, lat] numbers")
        if not isinstance(radius, int | float) or isinstance(radius, bool):
            raise ZoneGeometryError("radius_m must be a number")
        return (
            Circle(lat=float(coordinates[1]), lon=float(coordinates[0]), radius_m=float(radius)),
            properties,
        )
    raise ZoneGeometryError("zone geometry must be a Polygon or a Point with radius_m")


def _check_position(*, lon: float, lat: float) -> None:
    if not (isinstance(lon, int | float) and isinstance(lat, int | float)):
        raise ZoneGeometryError("coordinates must be numbers")
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ZoneGeometryError("coordinates must be finite")
    if not (-90.0 <= lat <= 90.0) or not (-180.0 <= lon <= 180.0):
        raise ZoneGeometryError("coordinate out of range (lat -90..90, lon -180..180)")


def _check_polygon(rings: tuple[tuple[tuple[float, float], ...], ...]) -> None:
    if not rings:
        raise ZoneGeometryError("polygon needs at least one ring")
    for ring in rings:
        for lon, lat in ring:
            _check_position(lon=lon, lat=lat)
        if len(ring) < 2 or ring[0] != ring[-1]:
            raise ZoneGeometryError("polygon ring is not closed (first and last positions differ)")
        if len(set(ring)) < 3:
            raise ZoneGeometryError("polygon ring has fewer than 3 distinct points")
    lons = [lon for ring in rings for lon, _ in ring]
    if max(lons) - min(lons) > 180.0:
        raise ZoneGeometryError("polygon crosses the antimeridian")
    _check_valid(ShapelyPolygon(rings[0], rings[1:]))
    _check_valid(_projected_shapely(rings))
    extent = max(float(np.hypot(r[:, 0], r[:, 1]).max()) for r in _all_projected(rings))
    if extent > MAX_POLYGON_EXTENT_M:
        raise ZoneGeometryError("polygon extends more than 100 km from its centre")


def _check_valid(shape: ShapelyPolygon) -> None:
    reason = shapely.is_valid_reason(shape)
    if reason != "Valid Geometry":
        raise ZoneGeometryError(f"polygon is invalid: {reason.split('[')[0].strip().lower()}")


@cache
def _polygon_projection(rings: tuple[tuple[tuple[float, float], ...], ...]) -> LocalProjection:
    centre = ShapelyPolygon(rings[0]).centroid
    return LocalProjection(origin_lat=float(centre.y), origin_lon=float(centre.x))


@cache
def _all_projected(rings: tuple[tuple[tuple[float, float], ...], ...]) -> tuple[Floats, ...]:
    projection = _polygon_projection(rings)
    out = []
    for ring in rings:
        coords = np.asarray(ring, dtype=float)
        xs, ys = projection.forward(lats=coords[:, 1], lons=coords[:, 0])
        out.append(np.column_stack([xs, ys]))
    return tuple(out)


def _projected_ring(rings: tuple[tuple[tuple[float, float], ...], ...], i: int) -> Floats:
    return _all_projected(rings)[i].copy()


@cache
def _projected_shapely(rings: tuple[tuple[tuple[float, float], ...], ...]) -> ShapelyPolygon:
    projected = _all_projected(rings)
    return ShapelyPolygon(projected[0], projected[1:])
