// Account page: change your own password with the current one.
import { api } from "./common.js";

const form = document.getElementById("password-form");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("password-error");
  const done = document.getElementById("password-done");
  error.textContent = done.textContent = "";
  const fresh = document.getElementById("new-password").value;
  if (fresh !== document.getElementById("repeat-password").value) {
    error.textContent = "The two new passwords differ.";
    return;
  }
  try {
    const changed = await api("POST", "/api/v1/auth/password", {
      current_password: document.getElementById("current-password").value, new_password: fresh,
    });
    form.reset();
    if (form.dataset.then) {
      window.location.assign(form.dataset.then);
      return;
    }
    const others = changed.other_sessions_ended;
    done.textContent = `Password changed.${others ? ` ${others} other session(s) signed out.` : ""}`;
  } catch (failure) {
    error.textContent = failure.message;
  }
});
