// Subject page: messages to the wearer, with whether the device has them, and a form to write one.
import { api, el, say } from "./common.js";

const panel = document.getElementById("messages-panel");
const subjectId = panel.dataset.subject;
const list = document.getElementById("messages");
const form = document.getElementById("message-form");

function status(message) {
  if (message.acked_at) return "read on the device";
  if (message.withdrawn_at) return "withdrawn: the device left the order unread";
  if (message.delivered_at) return "on the device";
  return "waiting for the device";
}

function row(message) {
  const sent = message.sent_at.slice(0, 16).replace("T", " ");
  const from = message.topic === "staff" ? "" : ` (${message.topic.replace("_", " ")})`;
  return el("li", { "data-id": String(message.id) },
    el("time", { dateTime: message.sent_at }, sent), ` ${message.text}${from} · `,
    el("span", { class: "muted" }, `${message.language || "?"}, ${status(message)}`));
}

async function load() {
  try {
    const page = await api("GET", `/api/v1/subjects/${subjectId}/messages?limit=20`);
    list.replaceChildren(...page.items.map(row));
    if (!page.items.length) list.append(el("li", { class: "muted" }, "No messages."));
  } catch (error) {
    list.replaceChildren(el("li", { class: "muted" }, `Messages are not available: ${error.message}`));
  }
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("message-error");
  error.textContent = "";
  const text = document.getElementById("message-text");
  try {
    await api("POST", `/api/v1/subjects/${subjectId}/messages`, {
      text: text.value, language: document.getElementById("message-language").value.trim(),
    });
    text.value = "";
    say("Message sent.");
    await load();
  } catch (failure) {
    error.textContent = failure.message;
  }
});

load();
