// Live run page: polls the run and drives its buttons (a static file: the CSP allows no inline script).
const PAGE = document.currentScript.dataset;
const RUN = Number(PAGE.run);
const CSRF = PAGE.csrf;
const TERMINAL = ["succeeded", "failed", "stopped"];
function show(id, on) { const el = document.getElementById(id); if (el) el.hidden = !on; }
function render(run) {
  const st = document.getElementById("status");
  st.textContent = run.status; st.className = "status status-" + run.status;
  document.getElementById("message").textContent = run.message || "";
  document.getElementById("attempt").textContent = run.attempt;
  document.getElementById("job").textContent = run.job_id || "";
  document.getElementById("released").textContent = run.released_as || "";
  const log = document.getElementById("log");
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.textContent = run.log_tail || "";
  if (atEnd) log.scrollTop = log.scrollHeight;
  const body = document.querySelector("#metrics tbody");
  body.innerHTML = "";
  for (const [k, v] of Object.entries(run.metrics || {})) {
    const tr = document.createElement("tr");
    const th = document.createElement("th"); th.textContent = k;
    const td = document.createElement("td"); td.className = "num"; td.textContent = v;
    tr.append(th, td); body.append(tr);
  }
  show("retry", run.status === "failed" || run.status === "stopped");
  show("stop", run.status === "pending" || run.status === "running");
  show("release", run.status === "succeeded" && !run.released_as);
}
let timer = null;
async function poll() {
  try {
    const resp = await fetch("/api/v1/runs/" + RUN, {headers: {"Accept": "application/json"}});
    if (resp.ok) { const run = await resp.json(); render(run); if (TERMINAL.includes(run.status)) { timer = null; return; } }
  } catch (e) { /* the server may be restarting: keep polling */ }
  timer = setTimeout(poll, 1000);
}
function startPolling() { if (timer === null) timer = setTimeout(poll, 300); }
async function act(path, body) {
  const resp = await fetch("/api/v1/runs/" + RUN + path, {
    method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": CSRF},
    body: JSON.stringify(body || {}),
  });
  const data = await resp.json();
  if (!resp.ok) { const e = document.getElementById("action-error"); e.textContent = data.error.message; e.hidden = false; return; }
  show("action-error", false); render(data); startPolling();
}
const retry = document.getElementById("retry"); if (retry) retry.onclick = () => act("/retry");
const stop = document.getElementById("stop"); if (stop) stop.onclick = () => act("/stop");
const rel = document.getElementById("release");
if (rel) rel.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const channel = document.getElementById("channel").value.trim();
  const files = document.getElementById("files").value.split(/[\s,]+/).filter(Boolean);
  act("/release", {package: document.getElementById("package").value.trim(),
                   version: document.getElementById("version").value.trim(), channel: channel || null, files});
});
if (PAGE.live === "1") startPolling();
