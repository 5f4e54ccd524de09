import { api } from "./common.js";

const form = document.getElementById("totp-form");
document.getElementById("totp-start").addEventListener("click", async (event) => {
  const enrolment = await api("POST", "/api/v1/auth/totp/enrolment");
  document.getElementById("totp-secret").textContent = enrolment.secret;
  document.getElementById("totp-uri").textContent = enrolment.provisioning_uri;
  document.getElementById("totp-key").hidden = false;
  form.hidden = false;
  event.target.disabled = true;
  document.getElementById("totp-code").focus();
});
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("POST", "/api/v1/auth/totp/confirmation", { code: document.getElementById("totp-code").value.trim() });
    window.location.assign("/");
  } catch {
    document.getElementById("totp-error").textContent = "That code did not match. Try the next one.";
  }
});
