// Shared helpers: JSON calls to the staff API with the session's CSRF token, a status line.
const csrf = document.querySelector('meta[name="csrf-token"]')?.content;

export async function api(method, url, body, headers = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (csrf && method !== "GET") init.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  if (response.status === 401) { window.location.assign("/login"); throw new Error("logged out"); }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(data?.detail || data?.title || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

export function say(text) {
  const toast = document.getElementById("toast");
  if (toast) toast.textContent = text;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

// Typing in a field must not trigger page shortcuts.
export function typing(event) {
  const tag = event.target.tagName;
  return ["INPUT", "TEXTAREA", "SELECT"].includes(tag) || event.target.isContentEditable;
}

export function age(iso) {
  const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 48 * 60) return `${Math.round(minutes / 60)} h`;
  return `${Math.round(minutes / 1440)} d`;
}

document.getElementById("logout")?.addEventListener("click", async () => {
  try { await api("POST", "/api/v1/auth/logout"); } finally { window.location.assign("/login"); }
});
