// Break-glass reviews: a supervisor other than the one who broke the glass decides.
import { api, say } from "./common.js";

document.querySelectorAll("form.review").forEach((form) => form.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("POST", `/api/v1/reviews/${form.dataset.id}/resolution`, {
      outcome: event.submitter.value, note: form.note.value.trim(),
    });
    window.location.reload();
  } catch (error) { say(`Not recorded: ${error.message}`); }
}));
