// Start a run from the experiment page (a static file: the pages' CSP allows no inline script).
const CSRF = document.currentScript.dataset.csrf;
const form = document.getElementById("start-run");
if (form) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const overrides = document.getElementById("overrides").value.split("\n").map(s => s.trim()).filter(Boolean);
    const resp = await fetch(form.dataset.url, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": CSRF},
      body: JSON.stringify({overrides}),
    });
    const data = await resp.json();
    if (!resp.ok) {
      const err = document.getElementById("start-error");
      err.textContent = data.error ? data.error.message : "could not start the run";
      err.hidden = false;
      return;
    }
    window.location = "/runs/" + data.id;
  });
}
