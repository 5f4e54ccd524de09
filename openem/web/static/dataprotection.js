// Data-protection pages: show a review form's extra field only for the decision that needs it,
// and ask before a legal hold is released. The forms post themselves (CSRF token included).
document.querySelectorAll("form.decision").forEach((form) => {
  const kind = form.querySelector(".decision-kind");
  const sync = () => {
    form.querySelectorAll("[class^='when-']").forEach((span) => {
      const shown = span.className === `when-${kind.value}`;
      span.hidden = !shown;
      span.querySelectorAll("input, select").forEach((field) => {
        field.disabled = !shown;
        field.required = shown;
      });
    });
  };
  kind.addEventListener("change", sync);
  sync();
});

document.querySelectorAll("form.release").forEach((form) => form.addEventListener("submit", (event) => {
  if (!window.confirm("Release this legal hold? The subject's data may then be purged when due.")) {
    event.preventDefault();
  }
}));
