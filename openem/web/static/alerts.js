// The alert queue: live over server-sent events, sorted by priority then age, one-key actions.
import { api, el, say, typing, age } from "./common.js";
import { L, makeMap, fitTo } from "./map.js";

const table = document.getElementById("queue");
const me = table.dataset.user;
const body = table.querySelector("tbody");
const map = makeMap(document.getElementById("map"));
let evidence = null;
const alerts = new Map();
let selected = null;
const OPEN = ["open", "acknowledged", "assigned"];

function sorted() {
  return [...alerts.values()].sort((a, b) => a.priority - b.priority || a.raised_at.localeCompare(b.raised_at));
}

function render() {
  const rows = sorted().map((alert) => {
    const row = el("tr", { tabIndex: -1, "data-id": alert.id, class: `c-${alert.alert_class}` },
      el("td", {}, `P${alert.priority}`),
      el("td", {}, el("span", { class: `class-badge ${alert.alert_class}` }, alert.alert_class)),
      el("td", {}, alert.type.replaceAll("_", " ")),
      el("td", {}, alert.status + (alert.assigned_to === me ? " (you)" : "")),
      el("td", {}, age(alert.raised_at)),
      el("td", {}, el("a", { href: `/subjects/${alert.subject_id}` }, "subject")));
    row.setAttribute("aria-selected", String(alert.id === selected));
    row.addEventListener("click", () => select(alert.id));
    return row;
  });
  body.replaceChildren(...rows);
  if (!rows.length) body.append(el("tr", {}, el("td", { colSpan: 6 }, "No open alerts.")));
}

async function select(id) {
  selected = id;
  render();
  body.querySelector(`tr[data-id="${id}"]`)?.focus();
  const alert = alerts.get(id);
  const detail = document.getElementById("alert-detail");
  detail.replaceChildren(...[["Type", alert.type], ["Class", alert.alert_class], ["Priority", `P${alert.priority}`],
    ["Started", alert.started_at], ["Status", alert.status]].flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  try {
    const collection = await api("GET", `/api/v1/alerts/${id}/evidence.geojson`);
    if (evidence) evidence.remove();
    evidence = L.geoJSON(collection, {
      style: (f) => (f.geometry.type === "LineString" ? { color: "#0d47a1", weight: 3 } : { color: "#b71c1c", weight: 2 }),
      pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 4, color: "#0d47a1" }),
    }).addTo(map);
    fitTo(map, [evidence]);
  } catch { say("No evidence map for this alert."); }
}

function upsert(alert) {
  if (OPEN.includes(alert.status)) alerts.set(alert.id, alert); else alerts.delete(alert.id);
  if (selected && !alerts.has(selected)) selected = null;
  render();
}

async function act(path, body) {
  if (!selected) { say("Select an alert first (j/k)."); return; }
  try {
    upsert(await api("POST", `/api/v1/alerts/${selected}/${path}`, body));
    say(`Alert ${path === "resolve" ? "resolved" : path === "assign" ? "assigned to you" : "acknowledged"}.`);
  } catch (error) { say(`Could not ${path}: ${error.message}`); }
}

const resolveForm = document.getElementById("resolve-form");
function openResolve() {
  if (!selected) { say("Select an alert first (j/k)."); return; }
  resolveForm.hidden = false;
  document.getElementById("outcome").focus();
}
resolveForm.addEventListener("keydown", (event) => {
  if (event.target.id === "outcome" && /^[1-4]$/.test(event.key)) {
    event.target.selectedIndex = Number(event.key) - 1;
    document.getElementById("note").focus();
    event.preventDefault();
  } else if (event.key === "Escape") { resolveForm.hidden = true; }
});
resolveForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  await act("resolve", { outcome: document.getElementById("outcome").value, note: document.getElementById("note").value.trim() });
  resolveForm.hidden = true;
  resolveForm.reset();
  body.querySelector("tr[data-id]")?.focus();
});
document.getElementById("resolve-cancel").addEventListener("click", () => { resolveForm.hidden = true; });

function move(step) {
  const list = sorted();
  if (!list.length) return;
  const index = list.findIndex((a) => a.id === selected);
  select(list[Math.max(0, Math.min(list.length - 1, index + step))].id);
}

document.addEventListener("keydown", (event) => {
  if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
  const keys = {
    j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
    a: () => act("acknowledge"), m: () => act("assign", { user_id: me }), r: openResolve,
    o: () => selected && window.location.assign(`/subjects/${alerts.get(selected).subject_id}`),
  };
  if (keys[event.key]) { keys[event.key](); event.preventDefault(); }
});

async function load() {
  const pages = await Promise.all(OPEN.map((status) => api("GET", `/api/v1/alerts?status=${status}&limit=500`)));
  for (const page of pages) for (const alert of page.items) alerts.set(alert.id, alert);
  render();
}

function live() {
  const badge = document.getElementById("live");
  const source = new EventSource("/api/v1/alerts/stream");
  source.onopen = () => { badge.textContent = "live"; badge.className = "tag ok"; };
  source.onerror = () => { badge.textContent = "reconnecting…"; badge.className = "tag warn"; };
  source.addEventListener("alert", (event) => {
    const payload = JSON.parse(event.data);
    const isNew = !alerts.has(payload.alert.id);
    upsert(payload.alert);
    if (isNew && OPEN.includes(payload.alert.status)) say(`New ${payload.alert.alert_class} alert: ${payload.alert.type}`);
  });
  source.addEventListener("lagging", () => { alerts.clear(); load(); });
}

load().then(live).catch((error) => {
  body.replaceChildren(el("tr", {}, el("td", { colSpan: 6 }, `The alert queue is not available: ${error.message}`)));
});
setInterval(render, 60_000);
