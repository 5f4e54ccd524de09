// Police requests: officers file, approvers grant or refuse. The page reloads after each step.
import { api } from "./common.js";

const form = document.getElementById("request-form");
form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const value = (id) => document.getElementById(id).value.trim();
  const kind = value("rq-kind");
  const body = {
    kind, window_start: new Date(value("rq-start")).toISOString(), window_end: new Date(value("rq-end")).toISOString(),
    crime_reference: value("rq-crime"), legal_basis: value("rq-basis"), justification: value("rq-why"),
  };
  if (kind === "subject") {
    body.subject_reference = value("rq-ref");
    body.data_classes = [...form.querySelectorAll('input[name="dc"]:checked')].map((box) => box.value);
  } else {
    Object.assign(body, { latitude: Number(value("rq-lat")), longitude: Number(value("rq-lon")), radius_m: Number(value("rq-radius")) });
  }
  try {
    await api("POST", "/api/v1/police-requests", body);
    window.location.reload();
  } catch (error) { document.getElementById("rq-error").textContent = `Not filed: ${error.message}`; }
});

document.querySelectorAll("button.grant").forEach((button) => button.addEventListener("click", async () => {
  await api("POST", `/api/v1/police-requests/${button.dataset.id}/grant`, { valid_days: 7 });
  window.location.reload();
}));
document.querySelectorAll("button.refuse").forEach((button) => button.addEventListener("click", async () => {
  const reason = window.prompt("Reason for refusing (at least 5 characters)");
  if (!reason) return;
  await api("POST", `/api/v1/police-requests/${button.dataset.id}/refusal`, { reason });
  window.location.reload();
}));
