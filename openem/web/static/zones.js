// Zones editor: draw circles (centre, then edge) and polygons (corners, then Finish) by
// clicking on the map; set a weekly schedule; save as a new zone or a new version.
import { api, el, say, typing } from "./common.js";
import { L, makeMap, zoneLayer, fitTo } from "./map.js";

const mapElement = document.getElementById("map");
const subjectId = mapElement.dataset.subject;
const map = makeMap(mapElement);
map.doubleClickZoom.disable();
const zoneGroup = L.layerGroup().addTo(map);
const sketch = L.layerGroup().addTo(map);
const help = document.getElementById("draw-help");
let tool = null;
let points = [];
let drawn = null; // { geometry, radius_m }
let zones = [];

function setTool(name) {
  tool = name;
  points = [];
  sketch.clearLayers();
  for (const t of ["circle", "polygon"]) document.getElementById(`tool-${t}`).setAttribute("aria-pressed", String(t === name));
  help.textContent = name === "circle" ? "Click the centre of the circle." :
    name === "polygon" ? "Click each corner; press Enter or Finish when done." : "Choose a tool.";
}

function summary(text) { document.getElementById("shape-summary").textContent = text; }

map.on("click", (event) => {
  if (!tool) return;
  points.push(event.latlng);
  if (tool === "circle") {
    if (points.length === 1) {
      L.circleMarker(event.latlng, { radius: 4 }).addTo(sketch);
      help.textContent = "Now click a point on the edge.";
      return;
    }
    const [centre, edge] = points;
    const radius = Math.round(map.distance(centre, edge));
    sketch.clearLayers();
    L.circle(centre, { radius, color: "#6a1b9a" }).addTo(sketch);
    drawn = { geometry: { type: "Point", coordinates: [centre.lng, centre.lat] }, radius_m: radius };
    summary(`Circle, radius ${radius} m.`);
    setToolDone();
  } else {
    sketch.clearLayers();
    L.polyline(points, { color: "#6a1b9a", dashArray: "4 4" }).addTo(sketch);
    points.forEach((p) => L.circleMarker(p, { radius: 3, color: "#6a1b9a" }).addTo(sketch));
    help.textContent = `${points.length} corner(s). Enter or Finish closes the polygon.`;
  }
});
map.on("dblclick", () => tool === "polygon" && finishPolygon());

function setToolDone() {
  tool = null;
  for (const t of ["circle", "polygon"]) document.getElementById(`tool-${t}`).setAttribute("aria-pressed", "false");
  help.textContent = "Shape ready: fill in the form and save.";
}

function finishPolygon() {
  if (tool !== "polygon") return;
  if (points.length < 3) { help.textContent = "A polygon needs at least three corners."; return; }
  const ring = points.map((p) => [p.lng, p.lat]);
  ring.push(ring[0]);
  sketch.clearLayers();
  L.polygon(points, { color: "#6a1b9a" }).addTo(sketch);
  drawn = { geometry: { type: "Polygon", coordinates: [ring] }, radius_m: null };
  summary(`Polygon with ${points.length} corners.`);
  setToolDone();
}

document.getElementById("tool-circle").addEventListener("click", () => setTool("circle"));
document.getElementById("tool-polygon").addEventListener("click", () => setTool("polygon"));
document.getElementById("tool-finish").addEventListener("click", finishPolygon);
document.getElementById("tool-cancel").addEventListener("click", () => setTool(null));
document.addEventListener("keydown", (event) => {
  if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "c") setTool("circle");
  else if (event.key === "p") setTool("polygon");
  else if (event.key === "Enter") finishPolygon();
  else if (event.key === "Escape") setTool(null);
});

function schedule() {
  const start = document.getElementById("win-start").value;
  const end = document.getElementById("win-end").value;
  if (!start || !end) return null;
  const days = [...document.querySelectorAll('input[name="day"]:checked')].map((box) => Number(box.value));
  return { windows: [{ days, start, end, overnight: document.getElementById("win-overnight").checked }] };
}

function resetForm() {
  document.getElementById("zone-form").reset();
  document.getElementById("zone-id").value = "";
  drawn = null;
  sketch.clearLayers();
  summary("No shape drawn yet.");
  document.getElementById("versions-list").replaceChildren();
}

async function save(event) {
  event.preventDefault();
  const error = document.getElementById("zone-error");
  error.textContent = "";
  const id = document.getElementById("zone-id").value;
  const body = { name: document.getElementById("zone-name").value.trim() };
  const sched = schedule();
  if (drawn) Object.assign(body, { geometry: drawn.geometry, radius_m: drawn.radius_m });
  try {
    if (id) {
      if (sched) body.schedule = sched; else body.clear_schedule = true;
      await api("PATCH", `/api/v1/zones/${id}`, body);
      say("Zone saved as a new version.");
    } else {
      if (!drawn) { error.textContent = "Draw a circle or a polygon first."; return; }
      body.kind = document.getElementById("zone-kind").value;
      if (sched) body.schedule = sched;
      await api("POST", `/api/v1/subjects/${subjectId}/zones`, body);
      say("Zone created.");
    }
    resetForm();
    await loadZones();
  } catch (failure) { error.textContent = `Not saved: ${failure.message}`; }
}

async function edit(zone) {
  document.getElementById("zone-id").value = zone.id;
  document.getElementById("zone-name").value = zone.name;
  document.getElementById("zone-kind").value = zone.kind;
  const win = zone.schedule?.windows?.[0];
  document.getElementById("win-start").value = win ? win.start.slice(0, 5) : "";
  document.getElementById("win-end").value = win ? win.end.slice(0, 5) : "";
  document.getElementById("win-overnight").checked = Boolean(win?.overnight);
  document.querySelectorAll('input[name="day"]').forEach((box) => { box.checked = !win || win.days.includes(Number(box.value)); });
  summary("Keeps its shape unless you draw a new one.");
  const versions = await api("GET", `/api/v1/zones/${zone.id}/versions`);
  document.getElementById("versions-list").replaceChildren(...versions.map((v) =>
    el("li", {}, `v${v.version} from ${v.valid_from.slice(0, 16).replace("T", " ")}${v.retired ? " (retired)" : ""}`)));
}

async function loadZones() {
  try {
    zones = await api("GET", `/api/v1/subjects/${subjectId}/zones`);
  } catch (failure) {
    help.textContent = `Zones are not available: ${failure.message}`;
    return;
  }
  zoneGroup.clearLayers();
  const layers = zones.map((zone) => zoneLayer(zone).bindTooltip(zone.name).addTo(zoneGroup));
  document.getElementById("zones-list").replaceChildren(...zones.map((zone) =>
    el("li", {}, Object.assign(el("button", { type: "button", class: "link" }, `${zone.name} (${zone.kind}, v${zone.version})`),
      { onclick: () => edit(zone) }))));
  if (layers.length) fitTo(map, layers);
}

document.getElementById("zone-form").addEventListener("submit", save);
document.getElementById("zone-new").addEventListener("click", resetForm);
document.getElementById("zone-retire").addEventListener("click", async () => {
  const id = document.getElementById("zone-id").value;
  if (!id) { say("Choose a zone from the list first."); return; }
  await api("DELETE", `/api/v1/zones/${id}`);
  resetForm();
  await loadZones();
  say("Zone retired; its versions stay.");
});
loadZones();
