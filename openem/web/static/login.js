import { api } from "./common.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const code = form.totp_code.value.trim();
  const body = { username: form.username.value.trim(), password: form.password.value };
  if (code) body.totp_code = code;
  try {
    const session = await api("POST", "/api/v1/auth/login", body);
    window.location.assign(session.totp_setup_required ? "/totp-setup" : "/");
  } catch (failure) {
    error.textContent = "Those details did not work. Check them and try again.";
    form.password.value = "";
    form.password.focus();
  }
});
