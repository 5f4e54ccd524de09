// Keyboard navigation of the caseload: j/k move, Enter opens, / searches, n next page.
import { typing } from "./common.js";

const rows = [...document.querySelectorAll("#caseload tbody tr[data-href]")];
let current = -1;

function focusRow(index) {
  if (!rows.length) return;
  current = Math.max(0, Math.min(rows.length - 1, index));
  rows.forEach((row, i) => row.classList.toggle("selected", i === current));
  rows[current].focus();
}

document.addEventListener("keydown", (event) => {
  if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "j" || event.key === "ArrowDown") { focusRow(current + 1); event.preventDefault(); }
  else if (event.key === "k" || event.key === "ArrowUp") { focusRow(current - 1); event.preventDefault(); }
  else if (event.key === "Enter" && current >= 0) window.location.assign(rows[current].dataset.href);
  else if (event.key === "/") { document.getElementById("reference").focus(); event.preventDefault(); }
  else if (event.key === "n") document.getElementById("next-page")?.click();
});
rows.forEach((row, i) => row.addEventListener("click", (event) => {
  if (event.target.tagName !== "A") { current = i; window.location.assign(row.dataset.href); }
}));
