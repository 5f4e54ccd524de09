// Leaflet (from the xstatic-leaflet package) with tiles from OPENEM_TILE_URL. Without a
// network the tiles fail quietly and zones and trails still draw on a plain background.
import * as L from "/static/leaflet/leaflet-src.esm.js";

export { L };

export function makeMap(element, { center = [51.5, -0.12], zoom = 12 } = {}) {
  const map = L.map(element, { keyboard: true, zoomControl: true }).setView(center, zoom);
  const tiles = element.dataset.tiles;
  if (tiles) {
    L.tileLayer(tiles, { maxZoom: 19, attribution: "© OpenStreetMap contributors" }).addTo(map);
  }
  return map;
}

export const ZONE_STYLE = {
  inclusion: { color: "#1b5e20", weight: 2, fillOpacity: 0.12 },
  exclusion: { color: "#b71c1c", weight: 2, fillOpacity: 0.18 },
};

// A zone's shape is GeoJSON: a Polygon, or a Point with radius_m (a circle).
export function zoneLayer(zone, { dashed = false } = {}) {
  const style = { ...(ZONE_STYLE[zone.kind] || ZONE_STYLE.inclusion) };
  if (dashed) Object.assign(style, { dashArray: "6 6", fillOpacity: 0.04 });
  const shape = zone.shape || zone.geometry;
  if (shape.type === "Point") {
    const [lon, lat] = shape.coordinates;
    return L.circle([lat, lon], { radius: shape.radius_m, ...style });
  }
  return L.geoJSON(shape, { style: () => style });
}

export function fitTo(map, layers) {
  const group = L.featureGroup(layers.filter(Boolean));
  const bounds = group.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20], maxZoom: 16 });
}

// Leaflet's own zoom → the trail's simplification level, so the server sends what shows.
export function zoomOf(map) { return Math.round(map.getZoom()); }
