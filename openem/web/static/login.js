import { api } from "./common.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const oidcTotp = document.getElementById("oidc-totp-form");

if (oidcTotp) {
  const oidcError = document.getElementById("oidc-totp-error");
  oidcTotp.addEventListener("submit", async (event) => {
    event.preventDefault();
    oidcError.textContent = "";
    // fetch, not api(): a refused code (401) must leave this form on the page.
    const response = await fetch("/api/v1/auth/oidc/totp", {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify({ code: oidcTotp.code.value.trim() }),
    });
    if (response.ok) {
      window.location.assign("/");
      return;
    }
    oidcError.textContent = "That code did not work. Sign in again if this keeps happening.";
    oidcTotp.code.value = "";
    oidcTotp.code.focus();
  });
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const code = form.totp_code.value.trim();
  const body = { username: form.username.value.trim(), password: form.password.value };
  if (code) body.totp_code = code;
  try {
    const session = await api("POST", "/api/v1/auth/login", body);
    window.location.assign(session.password_change_required ? "/account"
      : session.totp_setup_required ? "/totp-setup" : "/");
  } catch (failure) {
    error.textContent = "Those details did not work. Check them and try again.";
    form.password.value = "";
    form.password.focus();
  }
});
