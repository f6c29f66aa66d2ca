// arkor_rx web dashboard: one EventSource, a runs table, a run page, compare
// (the smoother and the charts are in charts.js, loaded first).
// Every string from a backend or a recording is set with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const S = {
  token: null, runs: new Map(), order: [], seq: 0, es: null,
  sort: { key: null, dir: 1 }, selected: new Set(),
  series: new Map(),   // run id -> history fetched once, then appended to live
  route: { view: "runs" }, charts: {}, dirty: false, cancelSent: null,
};

// ------------------------------------------------------------------ token and API

function takeToken() {
  const params = new URLSearchParams(location.search);
  let token = params.get("token");
  if (token) {
    sessionStorage.setItem("arkorDashboardToken", token);
    history.replaceState(null, "", location.pathname + location.hash); // out of the address bar
  } else {
    token = sessionStorage.getItem("arkorDashboardToken");
  }
  return token;
}

async function api(path, options = {}) {
  const headers = Object.assign({ "X-Arkor-Dashboard-Token": S.token }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok && !options.raw) {
    let message = `HTTP ${response.status}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

// ------------------------------------------------------------------ formatting

function num(v, digits = 4) {
  if (v === null || v === undefined) return "—";
  if (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)) return v.toExponential(2);
  return v.toFixed(digits);
}
function clock(seconds) {
  if (seconds === null || !isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(r).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}
function eta(run) {
  if (run.state !== "running" || !run.startedAt || !run.maxSteps || !run.step) return null;
  const elapsed = Date.now() / 1000 - run.startedAt;
  return (elapsed * Math.max(0, run.maxSteps - run.step)) / run.step;
}
function stepText(run) {
  return run.maxSteps ? `${run.step}/${run.maxSteps}` : String(run.step);
}
function stopText(run) {
  if (run.stop) {
    const who = run.state === "pruned" ? "pruned" : `stopped by ${run.stop.rule}`;
    return `${who}${run.stop.step !== null ? ` at step ${run.stop.step}` : ""}: ${run.stop.reason}`;
  }
  return run.error || "";
}
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

// ------------------------------------------------------------------ state from the stream

function applyPoint(run, p) {
  if (p[1] > run.step) run.step = p[1];
  if (p[2] !== null) run.loss = p[2];
  if (p[3] !== null) run.evalLoss = p[3];
  if (p[4] !== null) run.learningRate = p[4];
}

function apply(body) {
  for (const [id, diff] of Object.entries(body.r || {})) {
    let run = S.runs.get(id);
    if (!run) { run = { id, step: 0 }; S.runs.set(id, run); S.order.push(id); }
    Object.assign(run, diff);
  }
  for (const [id, points] of Object.entries(body.p || {})) {
    const run = S.runs.get(id);
    if (run) for (const p of points) applyPoint(run, p);
    const hist = S.series.get(id);
    if (hist) {
      for (const p of points) {
        if (p[0] <= hist.seq) continue; // already in the history fetched
        hist.step.push(p[1]); hist.loss.push(p[2]); hist.evalLoss.push(p[3]);
        hist.learningRate.push(p[4]); hist.seq = p[0];
      }
    }
  }
  for (const [id, lines] of Object.entries(body.l || {})) {
    const hist = S.series.get(id);
    if (hist) for (const line of lines) if (line[0] > hist.logSeq) hist.log.push(line);
  }
  for (const [id, marks] of Object.entries(body.c || {})) {
    const hist = S.series.get(id);
    if (hist) hist.checkpoints = marks;
  }
  schedule();
}

function schedule() {
  if (S.dirty) return;
  S.dirty = true;
  requestAnimationFrame(() => { S.dirty = false; draw(); });
}

async function loadSnapshot() {
  window.arkorSnapshots = (window.arkorSnapshots || 0) + 1;  // a resume needs none
  const snap = await (await api("/api/runs")).json();
  S.runs = new Map(); S.order = [];
  for (const run of snap.runs) { S.runs.set(run.id, run); S.order.push(run.id); }
  S.seq = snap.seq;
  S.series = new Map();
  return snap.seq;
}

function connect(since) {
  if (S.es) S.es.close();
  const url = `/api/stream?token=${encodeURIComponent(S.token)}&since=${since}`;
  const es = new EventSource(url);
  S.es = es;
  const conn = $("conn");
  es.onopen = () => { conn.textContent = "live"; conn.dataset.state = "live"; };
  es.onerror = () => { conn.textContent = "reconnecting…"; conn.dataset.state = "down"; };
  es.onmessage = (e) => { S.seq = Number(e.lastEventId); apply(JSON.parse(e.data)); };
  es.addEventListener("reset", () => { start(); });
}

async function start() {
  try {
    const since = await loadSnapshot();
    connect(since);
    route();
  } catch (e) {
    $("conn").textContent = e.message; $("conn").dataset.state = "down";
  }
}

async function loadHistory(id) {
  let hist = S.series.get(id);
  if (hist) return hist;
  const d = await (await api(`/api/runs/${encodeURIComponent(id)}`)).json();
  hist = Object.assign({}, d.series, {
    seq: d.seq, logSeq: d.seq, log: d.log, checkpoints: d.checkpoints,
    config: d.config, result: d.result, finished: false,
  });
  S.series.set(id, hist);
  if (d.run) S.runs.set(id, Object.assign(S.runs.get(id) || {}, d.run));
  if (!S.order.includes(id)) S.order.push(id);
  return hist;
}

// ------------------------------------------------------------------ runs table

const SORTERS = {
  name: (r) => (r.name || "").toLowerCase(), state: (r) => r.state, step: (r) => r.step,
  eta: (r) => eta(r) ?? Infinity, loss: (r) => r.loss ?? Infinity,
  evalLoss: (r) => r.evalLoss ?? Infinity, bestEvalLoss: (r) => r.bestEvalLoss ?? Infinity,
};

function visibleRuns() {
  const q = $("search").value.trim().toLowerCase(), status = $("status-filter").value;
  let runs = S.order.map((id) => S.runs.get(id)).filter((r) =>
    (!status || r.state === status) &&
    (!q || (r.name || "").toLowerCase().includes(q) || r.id.toLowerCase().includes(q)));
  const { key, dir } = S.sort;
  if (key) {
    const f = SORTERS[key];
    runs = runs.slice().sort((a, b) => (f(a) < f(b) ? -dir : f(a) > f(b) ? dir : 0));
  }
  return runs;
}

function drawTable() {
  const runs = visibleRuns(), body = document.querySelector("#runs tbody");
  const rows = runs.map((run) => {
    const tr = el("tr", null, `run state-${run.state}`);
    tr.dataset.id = run.id;
    const pick = el("td", null, "pick"), box = el("input");
    box.type = "checkbox"; box.checked = S.selected.has(run.id); box.dataset.id = run.id;
    box.setAttribute("aria-label", "select for compare");
    pick.append(box);
    const name = el("td", null, "name"), link = el("a", run.name);
    link.href = `#/run/${encodeURIComponent(run.id)}`;
    name.append(link);
    const why = stopText(run);
    if (why) name.append(el("div", why, "sub"));  // the reason column's text, shown on phones
    const state = el("td"); state.append(el("span", run.state, `badge state-${run.state}`));
    tr.append(pick, name, state, el("td", stepText(run), "num step"), el("td", clock(eta(run)), "num"),
      el("td", num(run.loss), "num loss"), el("td", num(run.evalLoss), "num"),
      el("td", num(run.bestEvalLoss), "num"), el("td", stopText(run), "reason"));
    return tr;
  });
  body.replaceChildren(...rows);
  $("empty").hidden = S.order.length > 0;
  $("count").textContent = `${runs.length} of ${S.order.length} runs`;
  for (const th of document.querySelectorAll("#runs th[data-sort]")) {
    th.dataset.dir = th.dataset.sort === S.sort.key ? (S.sort.dir > 0 ? "asc" : "desc") : "";
  }
}

function runChartData(hist) {
  const w = Number($("smoothing").value);
  return [hist.step, hist.loss, smoothedOf(hist, w), hist.evalLoss];
}

function drawRunCharts(id, hist) {
  const ch = S.charts;
  const getRuns = () => [S.runs.get(id)];
  if (!ch.loss || ch.lossId !== id) {
    for (const c of [ch.loss, ch.lr]) if (c) c.destroy();
    $("loss-chart").replaceChildren(); $("lr-chart").replaceChildren();
    ch.loss = makeChart($("loss-chart"), [
      { label: "loss", stroke: css("--c1"), width: 1, alpha: 0.35, points: { show: false } },
      { label: "smoothed", stroke: css("--c1"), width: 2, points: { show: false } },
      { label: "eval loss", stroke: css("--c2"), width: 2, spanGaps: true, points: { show: true, size: 6 } },
    ], getRuns, 320);
    ch.lr = makeChart($("lr-chart"), [{ label: "learning rate", stroke: css("--c3"), width: 2, spanGaps: true, points: { show: false } }], getRuns, 180);
    ch.lossId = id;
  }
  ch.loss.setData(runChartData(hist));
  const node = $("loss-chart");  // what tests and people can read: how much is drawn
  node.dataset.points = String(hist.step.length);
  node.dataset.lastStep = String(hist.step.length ? hist.step[hist.step.length - 1] : "");
  ch.lr.setData([hist.step, hist.learningRate]);
}

// ------------------------------------------------------------------ run page

function drawRun(id) {
  const run = S.runs.get(id), hist = S.series.get(id);
  if (!run || !hist) return;
  $("run-name").textContent = run.name;
  $("run-id").textContent = `job ${run.id}`;
  const badge = $("run-state"); badge.textContent = run.state; badge.className = `badge state-${run.state}`;
  const left = eta(run);
  $("run-progress").textContent = `step ${stepText(run)}` + (left !== null ? ` · ETA ${clock(left)}` : "") +
    ` · loss ${num(run.loss)} · eval ${num(run.evalLoss)} · best eval ${num(run.bestEvalLoss)}`;
  const stop = stopText(run);
  $("run-stop").hidden = !run.stop; $("run-stop").textContent = run.stop ? stop : "";
  $("run-error").hidden = !run.error || !!run.stop; $("run-error").textContent = run.error || "";
  drawDeployments(run);
  const cancel = $("cancel");
  // Once sent, the button stays (disabled) to say so; otherwise only a live run has one.
  cancel.hidden = !(run.state === "running" || run.state === "waiting") && S.cancelSent !== id;
  drawRunCharts(id, hist);
  const samples = hist.checkpoints.map(([step, prompt, answer, error]) => {
    const tr = el("tr");
    tr.append(el("td", step, "num"), el("td", prompt || "—"),
      el("td", answer === null ? "—" : answer, error ? "error" : ""));
    return tr;
  });
  document.querySelector("#samples tbody").replaceChildren(...samples);
  $("no-samples").hidden = samples.length > 0;
  const log = hist.log.slice(-200).map(([, type, step, text]) => {
    const li = el("li"); li.append(el("span", type, "mono type"));
    if (step !== null) li.append(el("span", ` step ${step}`, "muted"));
    li.append(el("span", ` ${text}`)); return li;
  });
  $("log").replaceChildren(...log);
  $("config").textContent = hist.config ? JSON.stringify(hist.config, null, 2) : "—";
  $("result").textContent = hist.result ? JSON.stringify(hist.result, null, 2) : "—";
  drawAdapters(run, hist);
  if (run.finishedAt && !hist.finished) {  // the result arrives with the end: fetch it once
    hist.finished = true;
    S.series.delete(id);
    loadHistory(id).then((h) => { h.finished = true; schedule(); });
  }
}

function drawDeployments(run) {
  // One line per deployment: slug, target and base URL, as text (never a key, never a link).
  const lines = (run.deployments || []).map((d) => {
    const li = el("li", "deployed ", "deployment"); li.dataset.slug = d.slug;
    li.append(el("span", d.slug, "mono"), el("span", `: ${d.target} at `), el("span", d.url, "mono"));
    if (!d.enabled) li.append(el("span", " (disabled)", "muted"));
    return li;
  });
  $("run-deployments").replaceChildren(...lines);
  $("run-deployments").hidden = lines.length === 0;
}

function drawAdapters(run, hist) {
  const select = $("ask-adapter"), keep = select.value;
  const options = [];
  if (run.state === "completed") options.push(["final", "final adapter"]);
  for (const [step] of hist.checkpoints) options.push([String(step), `checkpoint at step ${step}`]);
  $("ask-send").disabled = options.length === 0;
  if (options.map((o) => o[0]).join() === [...select.options].map((o) => o.value).join()) return;
  select.replaceChildren(...options.map(([v, label]) => { const o = el("option", label); o.value = v; return o; }));
  if (options.some((o) => o[0] === keep)) select.value = keep;
}

async function ask(event) {
  event.preventDefault();
  const id = S.route.id, value = $("ask-adapter").value, prompt = $("ask-prompt").value;
  const out = $("answer");
  if (!prompt.trim() || !value) return;
  out.textContent = ""; out.className = "answer streaming";
  try {
    const response = await api(`/api/runs/${encodeURIComponent(id)}/chat`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ prompt, step: value === "final" ? null : Number(value) }),
    });
    const reader = response.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value: chunk, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(chunk, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        const data = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("");
        const parsed = data ? JSON.parse(data) : {};
        if (parsed.delta) out.textContent += parsed.delta;
        if (parsed.error) { out.textContent += `\n[error: ${parsed.error}]`; out.className = "answer error"; }
      }
    }
    if (out.className === "answer streaming") out.className = "answer done";
  } catch (e) {
    out.textContent = e.message; out.className = "answer error";
  }
}

function confirmCancel() {
  const id = S.route.id, run = S.runs.get(id), dialog = $("confirm");
  $("confirm-text").textContent = `Cancel “${run.name}”? The job stops on the backend.`;
  dialog.showModal();
}

async function doCancel() {
  $("confirm").close();
  const id = S.route.id, button = $("cancel");
  button.disabled = true;
  S.cancelSent = id;
  try {
    await api(`/api/runs/${encodeURIComponent(id)}/cancel`, { method: "POST" });
    button.textContent = "Cancel sent";
  } catch (e) {
    button.textContent = e.message;
  }
}

// ------------------------------------------------------------------ compare

function compareIds() {
  const given = new URLSearchParams(location.hash.split("?")[1] || "").get("ids");
  if (given) return given.split(",").filter((id) => S.runs.has(id));
  if (S.selected.size) return [...S.selected].filter((id) => S.runs.has(id));
  const sweep = S.order.filter((id) => S.runs.get(id).index !== null && S.runs.get(id).index !== undefined);
  return (sweep.length ? sweep : S.order).slice(0, 20);
}

const PALETTE = ["--c1", "--c2", "--c3", "--c4", "--c5", "--c6"];

function drawCompare() {
  const ids = S.route.ids, ch = S.charts;
  const hists = ids.map((id) => S.series.get(id)).filter(Boolean);
  if (hists.length !== ids.length) return;
  const log = $("compare-log").checked;
  const key = ids.join(",") + (log ? ":log" : "");
  if (!ch.compare || ch.compareKey !== key) {
    if (ch.compare) ch.compare.destroy();
    $("compare-chart").replaceChildren();
    const series = ids.map((id, i) => {
      const run = S.runs.get(id);
      return { label: run.name, stroke: css(PALETTE[i % PALETTE.length]), width: 2, spanGaps: true,
        points: { show: false },
        dash: run.state === "pruned" ? [6, 4] : undefined };
    });
    ch.compare = makeChart($("compare-chart"), series, () => ids.map((id) => S.runs.get(id)), 420, log);
    ch.compareKey = key;
  }
  const w = Number($("smoothing").value);
  const buckets = Math.max(100, Math.round(($("compare-chart").clientWidth || 1200) / 2));
  ch.compare.setData(bucketed(hists, w, buckets));
  const legend = ids.map((id) => {
    const run = S.runs.get(id), li = el("li", null, `state-${run.state}`), a = el("a", run.name);
    a.href = `#/run/${encodeURIComponent(id)}`;
    li.append(a, el("span", ` ${run.state} · step ${stepText(run)} · best eval ${num(run.bestEvalLoss)}`, "muted"));
    if (run.stop) li.append(el("span", ` · ${stopText(run)}`, "reason"));
    return li;
  });
  $("compare-legend").replaceChildren(...legend);
  $("compare-note").textContent = `${ids.length} runs, smoothed loss (smoothing ${w.toFixed(2)})`;
}

// ------------------------------------------------------------------ routing and drawing

function show(view) {
  for (const name of ["runs", "run", "compare"]) $(`${name}-view`).hidden = name !== view;
  $("nav-runs").classList.toggle("active", view === "runs");
  $("nav-compare").classList.toggle("active", view === "compare");
}

async function route() {
  const hash = location.hash || "#/";
  for (const key of ["loss", "lr", "compare"]) if (S.charts[key]) { S.charts[key].destroy(); S.charts[key] = null; }
  S.charts = {};
  if (hash.startsWith("#/run/")) {
    const id = decodeURIComponent(hash.slice(6));
    S.route = { view: "run", id };
    const button = $("cancel"); button.disabled = false; button.textContent = "Cancel run";
    S.cancelSent = null;
    $("answer").textContent = "";
    show("run");
    try { await loadHistory(id); } catch (e) { $("run-name").textContent = e.message; return; }
  } else if (hash.startsWith("#/compare")) {
    const ids = compareIds();
    S.route = { view: "compare", ids };
    show("compare");
    await Promise.all(ids.map(loadHistory));
  } else {
    S.route = { view: "runs" };
    show("runs");
  }
  schedule();
}

function draw() {
  const r = S.route;
  if (r.view === "runs") drawTable();
  else if (r.view === "run") drawRun(r.id);
  else if (r.view === "compare") drawCompare();
}

// ------------------------------------------------------------------ theme and wiring

function setTheme(theme) {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem("arkorTheme", theme);
  S.charts = Object.fromEntries(Object.entries(S.charts).map(([k, c]) => { if (c && c.destroy) c.destroy(); return [k, null]; }));
  schedule();
}

function wire() {
  const saved = localStorage.getItem("arkorTheme");
  const dark = saved ? saved === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = dark ? "dark" : "light";
  $("theme").addEventListener("click", () =>
    setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));
  $("search").addEventListener("input", schedule);
  $("status-filter").addEventListener("change", schedule);
  for (const th of document.querySelectorAll("#runs th[data-sort]")) {
    th.addEventListener("click", () => {
      const key = th.dataset.sort;
      S.sort = { key, dir: S.sort.key === key ? -S.sort.dir : 1 };
      schedule();
    });
  }
  document.querySelector("#runs tbody").addEventListener("change", (e) => {
    const id = e.target.dataset.id;
    if (e.target.checked) S.selected.add(id); else S.selected.delete(id);
  });
  $("compare-selected").addEventListener("click", () => {
    location.hash = S.selected.size ? `#/compare?ids=${[...S.selected].map(encodeURIComponent).join(",")}` : "#/compare";
  });
  $("smoothing").addEventListener("input", () => {
    $("smoothing-value").textContent = Number($("smoothing").value).toFixed(2);
    schedule();
  });
  $("cancel").addEventListener("click", confirmCancel);
  $("confirm-no").addEventListener("click", () => $("confirm").close());
  $("confirm-yes").addEventListener("click", doCancel);
  $("ask").addEventListener("submit", ask);
  $("compare-log").addEventListener("change", schedule);
  window.addEventListener("hashchange", route);
  setInterval(() => { if (S.route.view === "runs") schedule(); }, 1000); // ETAs tick
}

S.token = takeToken();
wire();
if (!S.token) {
  $("no-token").hidden = false;
  $("conn").textContent = "no token";
} else {
  start();
}
