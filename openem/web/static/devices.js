// Devices page (devices:write): register a device, and act on one from its row. Each action
// calls the staff API (audited there); a pairing code or tracker-app secret is shown once,
// in its row.
import { api } from "./common.js";

const clock = (iso) => new Date(iso).toLocaleTimeString();

const ACTIONS = {
  "pairing-code": { method: "POST", path: "/pairing-code",
                    show: (answer) => `Code ${answer.code}, until ${clock(answer.expires_at)}` },
  "tracker-secret": { method: "POST", path: "/tracker-secret",
                      ask: "Issue a new tracker-app secret? The app's current one stops working.",
                      show: (answer) => `Secret ${answer.secret} (user name: the serial)` },
  unassign: { method: "DELETE", path: "/assignment",
              ask: "Take this device off its order? It stops reporting for the subject." },
  faulty: { method: "PATCH", path: "", body: { state: "faulty" },
            ask: "Mark this device faulty? If it serves an order, it is taken off it." },
  stock: { method: "PATCH", path: "", body: { state: "stock" } },
  retire: { method: "POST", path: "/retirement",
            ask: "Retire this device for good? Its key is revoked at once." },
};

document.getElementById("register-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("register-error");
  error.textContent = "";
  const firmware = document.getElementById("device-firmware").value.trim();
  try {
    await api("POST", "/api/v1/devices", {
      kind: document.getElementById("device-kind").value,
      serial: document.getElementById("device-serial").value.trim(),
      ...(firmware ? { firmware } : {}),
    });
    window.location.reload();
  } catch (failure) {
    error.textContent = failure.message;
  }
});

document.getElementById("devices").addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const row = button.closest("tr");
  if (button.dataset.action === "removal") {
    askRemovalTime(row);
    return;
  }
  const action = ACTIONS[button.dataset.action];
  if (action.ask && !window.confirm(`${row.dataset.serial}: ${action.ask}`)) return;
  const error = document.getElementById("device-error");
  error.textContent = "";
  try {
    const answer = await api(action.method, `/api/v1/devices/${row.dataset.deviceId}${action.path}`,
                             action.body);
    if (!action.show) {
      window.location.reload();
      return;
    }
    row.querySelector(".shown-once").textContent = action.show(answer);
  } catch (failure) {
    error.textContent = `${row.dataset.serial}: ${failure.message}`;
  }
});

// A removal is often recorded after the visit: the technician says when the device came off.
const removal = document.getElementById("removal-dialog");
const removedAt = document.getElementById("removed-at");
const removalError = document.getElementById("removal-error");

// A datetime-local input's value: the browser's local time, to the minute.
const localMinute = (date) =>
  new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

function askRemovalTime(row) {
  const now = new Date();
  removal.dataset.deviceId = row.dataset.deviceId;
  document.getElementById("removal-serial").textContent = row.dataset.serial;
  removedAt.value = localMinute(now);
  removedAt.max = localMinute(now);
  removedAt.min = localMinute(new Date(now.getTime() - 24 * 3600_000));
  removalError.textContent = "";
  removal.showModal();
}

document.getElementById("removal-cancel").addEventListener("click", () => removal.close());

document.getElementById("removal-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  removalError.textContent = "";
  try {
    await api("POST", `/api/v1/devices/${removal.dataset.deviceId}/removal`,
              { removed_at: new Date(removedAt.value).toISOString() });
    window.location.reload();
  } catch (failure) {
    removalError.textContent = failure.message;
  }
});
