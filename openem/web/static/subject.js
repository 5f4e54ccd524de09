// Subject page: zones (now or as they were), the trail after a stated purpose, alerts.
import { api, el, say } from "./common.js";
import { L, makeMap, zoneLayer, fitTo, zoomOf } from "./map.js";

const mapElement = document.getElementById("map");
const subjectId = mapElement.dataset.subject;
const map = makeMap(mapElement);
const zoneGroup = L.layerGroup().addTo(map);
let trailLayer = null;
let purpose = null;
let zones = [];
// Trails are simplified on the server to about a pixel at this zoom (or the map's, if closer).
const TRAIL_ZOOM = 15;

async function loadZones() {
  const list = document.getElementById("zones-list");
  try {
    zones = await api("GET", `/api/v1/subjects/${subjectId}/zones?include_retired=true`);
  } catch (error) {
    list.replaceChildren(el("li", { class: "muted" }, "Zones are not available."));
    return;
  }
  showZones(zones.filter((zone) => !zone.retired), false);
}

function showZones(shown, asWere) {
  zoneGroup.clearLayers();
  const layers = shown.map((zone) => zoneLayer(zone, { dashed: asWere }).bindTooltip(zone.name).addTo(zoneGroup));
  const list = document.getElementById("zones-list");
  list.replaceChildren(...shown.map((zone) =>
    el("li", {}, `${zone.name} · ${zone.kind} · version ${zone.version}${zone.schedule ? " · scheduled" : ""}`)));
  if (!shown.length) list.append(el("li", { class: "muted" }, "No zones."));
  if (!trailLayer) fitTo(map, layers);
}

// Zones as they were: for each zone, the last version valid at that moment.
async function zonesAt(moment) {
  const versions = await Promise.all(zones.map((zone) => api("GET", `/api/v1/zones/${zone.id}/versions`)));
  const at = versions.map((list) => list.filter((v) => Date.parse(v.valid_from) <= moment)
    .sort((a, b) => b.version - a.version)[0]).filter((v) => v && !v.retired);
  showZones(at, true);
  say(`Showing zones as they were at ${new Date(moment).toLocaleString()}`);
}

document.getElementById("zones-at").addEventListener("change", (event) => {
  if (event.target.value) zonesAt(Date.parse(event.target.value)).catch(() => say("Zone versions are not available."));
});
document.getElementById("zones-now").addEventListener("click", () => showZones(zones.filter((z) => !z.retired), false));

function trailWindow() {
  const hoursBack = Number(document.getElementById("window-end").value);
  const hours = Number(document.getElementById("window-hours").value);
  const end = new Date(Date.now() - hoursBack * 3600_000);
  const start = new Date(end.getTime() - hours * 3600_000);
  document.getElementById("window-end-label").textContent = hoursBack ? `${hoursBack} h ago` : "now";
  return { start, end };
}

async function loadTrail() {
  const { start, end } = trailWindow();
  const params = new URLSearchParams({
    from: start.toISOString(), to: end.toISOString(), purpose: purpose.purpose,
    format: "geojson", zoom: String(Math.max(zoomOf(map), TRAIL_ZOOM)),
  });
  const status = document.getElementById("trail-status");
  status.textContent = "Loading the trail…";
  try {
    const collection = await api("GET", `/api/v1/subjects/${subjectId}/positions?${params}`, undefined,
      { "X-Purpose-Detail": purpose.detail });
    if (trailLayer) trailLayer.remove();
    trailLayer = L.geoJSON(collection, {
      style: { color: "#0d47a1", weight: 3 },
      pointToLayer: (feature, latlng) => L.circleMarker(latlng, { radius: 3, color: "#0d47a1" })
        .bindTooltip(feature.properties.time || ""),
    }).addTo(map);
    const fixes = collection.features.filter((f) => f.properties.kind === "fix").length;
    status.textContent = `${fixes} points shown from ${start.toLocaleString()} to ${end.toLocaleString()} (this view is on the audit trail).`;
    fitTo(map, [trailLayer, ...zoneGroup.getLayers()]);
  } catch (error) {
    status.textContent = `The trail could not be opened: ${error.message}`;
  }
}

document.getElementById("trail-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const detail = document.getElementById("purpose-detail").value.trim();
  const chosen = document.getElementById("purpose").value;
  if (!chosen || !detail) { say("Choose a purpose and give a few words of detail first."); return; }
  purpose = { purpose: chosen, detail };
  document.getElementById("window-controls").hidden = false;
  loadTrail();
});
let slideTimer = null;
for (const id of ["window-end", "window-hours"]) {
  document.getElementById(id).addEventListener("input", () => {
    trailWindow();
    clearTimeout(slideTimer);
    slideTimer = setTimeout(() => purpose && loadTrail(), 400);
  });
}

async function loadAlerts() {
  const list = document.getElementById("subject-alerts");
  try {
    const page = await api("GET", `/api/v1/alerts?subject_id=${subjectId}&limit=50`);
    list.replaceChildren(...page.items.map((alert) => el("li", { class: `alert c-${alert.alert_class}` },
      `${alert.raised_at.slice(0, 16).replace("T", " ")} · ${alert.type} · ${alert.alert_class} · ${alert.status}`)));
    if (!page.items.length) list.replaceChildren(el("li", { class: "muted" }, "No alerts."));
    const timeline = document.getElementById("timeline");
    for (const alert of page.items) {
      timeline.append(el("li", { "data-at": alert.raised_at },
        el("time", { dateTime: alert.raised_at }, alert.raised_at.slice(0, 16).replace("T", " ")),
        ` Alert: ${alert.type} (${alert.status})`));
    }
    [...timeline.children].sort((a, b) => a.dataset.at.localeCompare(b.dataset.at)).forEach((li) => timeline.append(li));
  } catch {
    list.replaceChildren(el("li", { class: "muted" }, "Alerts are not available."));
  }
}

loadZones();
loadAlerts();
