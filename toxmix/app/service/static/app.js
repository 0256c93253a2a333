// toxmix serve's page. Everything the corpus holds is put in the page as text (textContent), never as markup.
"use strict";
let csrf = null;

function el(tag, text) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); return e; }
function show(id, on) { document.getElementById(id).hidden = !on; }

async function api(path, body) {
  const init = body === undefined ? {} : {method: "POST", body: JSON.stringify(body),
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf || ""}};
  const r = await fetch(path, init);
  if (!r.ok) { let d = r.statusText; try { d = (await r.json()).detail; } catch (e) {} throw new Error(typeof d === "string" ? d : JSON.stringify(d)); }
  return r;
}

function table(id, rows, columns) {
  const t = document.getElementById(id); t.replaceChildren();
  if (!rows.length) return;
  columns = columns || Object.keys(rows[0]);
  const head = el("tr"); columns.forEach(c => head.append(el("th", c))); t.append(head);
  rows.forEach(r => { const tr = el("tr"); (Array.isArray(r) ? r : columns.map(c => r[c])).forEach(v =>
    tr.append(el("td", v === null ? "" : typeof v === "object" ? JSON.stringify(v) : v))); t.append(tr); });
  return t;
}

function bars(container, labels, values) {  // an SVG bar chart drawn from numbers, no markup from data
  const ns = "http://www.w3.org/2000/svg", w = 600, h = 140, top = 14, max = Math.max(1, ...values);
  const svg = document.createElementNS(ns, "svg"); svg.setAttribute("width", w); svg.setAttribute("height", top + h + 18);
  const bw = w / Math.max(1, values.length);
  const text = (x, y, s) => { const t = document.createElementNS(ns, "text"); t.setAttribute("x", x); t.setAttribute("y", y);
    t.setAttribute("text-anchor", "middle"); t.setAttribute("class", "label"); t.textContent = s; svg.append(t); };
  values.forEach((v, i) => {
    const r = document.createElementNS(ns, "rect"); r.setAttribute("class", "bar");
    r.setAttribute("x", i * bw + 1); r.setAttribute("width", Math.max(1, bw - 2));
    r.setAttribute("y", top + h - h * v / max); r.setAttribute("height", h * v / max);
    const title = document.createElementNS(ns, "title"); title.textContent = labels[i] + ": " + v; r.append(title);
    svg.append(r);
    if (values.length <= 12) { text(i * bw + bw / 2, top + h - h * v / max - 3, v); text(i * bw + bw / 2, top + h + 14, labels[i]); }
  });
  container.append(svg);
}

async function overview() {
  const o = await (await api("/api/overview")).json();
  table("sources", o.sources);
  table("scorers", o.scorers.map(s => ({scorer: s.name, labels: s.labels.join(", "), model: s.versions.join(", "),
    sources: s.sources.join(", ")})));
  table("mixtures", o.mixtures);
  const runs = document.getElementById("runs"); runs.replaceChildren(...o.runs.map(r => el("li", r)));
  const hist = document.getElementById("histogram"); hist.replaceChildren();
  if (o.score) {
    const h = await (await api("/api/histogram?score=" + encodeURIComponent(o.score))).json();
    document.getElementById("score-name").textContent = h.score;
    const sources = [...new Set(h.buckets.map(b => b.source))];
    sources.forEach(s => { const rows = h.buckets.filter(b => b.source === s);
      hist.append(el("h3", s)); bars(hist, rows.map(b => b.bucket), rows.map(b => b.docs)); });
  }
  const select = document.getElementById("doc-source");
  select.replaceChildren(...o.sources.map(s => el("option", s.source)));
}

async function documents(event) {
  if (event) event.preventDefault();
  const q = new URLSearchParams({source: document.getElementById("doc-source").value});
  const where = document.getElementById("doc-where").value.trim(); if (where) q.set("where", where);
  document.getElementById("doc-error").textContent = "";
  try {
    const page = await (await api("/api/documents?" + q)).json();
    const t = table("doc-list", page.documents);
    if (t) [...t.querySelectorAll("tr")].slice(1).forEach((tr, i) => tr.addEventListener("click", () => openDocument(page.source, page.documents[i].id)));
  } catch (e) { document.getElementById("doc-error").textContent = e.message; }
}

async function openDocument(source, id) {
  const d = await (await api("/api/documents/" + encodeURIComponent(source) + "/" + encodeURIComponent(id))).json();
  document.getElementById("doc-title").textContent = source + " / " + id;
  document.getElementById("doc-text").textContent = d.text;
}

async function runSql(event) {
  if (event) event.preventDefault();
  const status = document.getElementById("sql-status"), error = document.getElementById("sql-error");
  status.textContent = "running..."; error.textContent = "";
  document.getElementById("sql-chart").replaceChildren();
  try {
    const r = await (await api("/api/sql", {query: document.getElementById("sql-query").value})).json();
    table("sql-result", r.rows, r.columns);
    status.textContent = r.total_rows + " rows in " + r.ms + " ms" + (r.truncated ? " (first " + r.rows.length + " shown)" : "");
    if (r.columns.length === 2 && r.rows.every(row => typeof row[1] === "number"))
      bars(document.getElementById("sql-chart"), r.rows.map(row => String(row[0])), r.rows.map(row => row[1]));
  } catch (e) { status.textContent = ""; error.textContent = e.message; }
  history();
}

async function download(format) {
  const error = document.getElementById("sql-error"); error.textContent = "";
  try {
    const r = await api("/api/sql/download", {query: document.getElementById("sql-query").value, format});
    const a = el("a"); a.href = URL.createObjectURL(await r.blob()); a.download = "query." + format;
    document.body.append(a); a.click(); a.remove();
  } catch (e) { error.textContent = e.message; }
}

async function history() {
  const h = await (await api("/api/sql/history")).json();
  document.getElementById("sql-history").replaceChildren(...h.map(q => el("li", q.sql + (q.error ? "  [" + q.error + "]" : ""))));
}

let checkTimer = null;
async function manifests() {
  const list = await (await api("/api/manifests")).json();
  const ul = document.getElementById("manifest-list");
  ul.replaceChildren(...list.map(m => { const li = el("li", m.path); li.addEventListener("click", async () => {
    const t = await (await api("/api/manifests/" + encodeURIComponent(m.name))).json();
    editing = m.name; document.getElementById("manifest-text").value = t.text; checkManifest(); }); return li; }));
}

let editing = null;
async function checkManifest() {
  const out = document.getElementById("manifest-check"), save = document.getElementById("manifest-save");
  const body = {text: document.getElementById("manifest-text").value, name: editing};
  save.disabled = true; document.getElementById("manifest-saved").textContent = "";
  document.getElementById("manifest-preview").replaceChildren();
  try {
    const r = await (await api("/api/manifests/validate", body)).json();
    out.className = r.valid ? "ok" : "error";
    out.textContent = r.valid ? "valid: " + r.name + " (" + r.components.join(", ") + "); previewing..." : r.error;
    if (!r.valid) return;
    const p = await (await api("/api/manifests/preview", body)).json();
    if (body.text !== document.getElementById("manifest-text").value) return;  // edited since: a newer check runs
    out.className = p.feasible ? "ok" : "error";
    out.textContent = p.feasible ? "feasible: " + p.name : p.error;
    if (p.feasible) { table("manifest-preview", p.components); save.disabled = editing !== p.name; }
  } catch (e) { out.className = "error"; out.textContent = e.message; }
}

async function saveManifest() {
  const r = await fetch("/api/manifests/" + encodeURIComponent(editing), {method: "PUT",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf || ""},
    body: JSON.stringify({text: document.getElementById("manifest-text").value})});
  const d = await r.json();
  document.getElementById("manifest-saved").textContent = r.ok ? "saved " + d.path : d.detail;
}

let watching = null;
async function runs() {
  const list = await (await api("/api/manifests")).json();
  const select = document.getElementById("train-manifest");
  if (!select.options.length) select.replaceChildren(...list.map(m => el("option", m.name)));
  const reports = await (await api("/api/reports")).json();
  document.getElementById("report-list").replaceChildren(...reports.map(r => {
    const li = el("li"), a = el("a", r); a.href = "/reports/" + r.split("/").map(encodeURIComponent).join("/");
    a.target = "_blank"; a.rel = "noopener"; li.append(a); return li; }));
  const jobs = await (await api("/api/jobs")).json();
  const t = table("job-list", jobs, ["id", "state", "owner", "command"]);
  if (t) [...t.querySelectorAll("tr")].slice(1).forEach((tr, i) => tr.addEventListener("click", () => watch(jobs[i].id)));
}

function curve(container, points) {  // the loss curve as an SVG polyline, drawn from numbers
  const ns = "http://www.w3.org/2000/svg", w = 600, h = 200;
  container.replaceChildren();
  if (points.length < 1) return;
  const xs = points.map(p => p.step), ys = points.map(p => p.loss);
  const x0 = Math.min(...xs), x1 = Math.max(x0 + 1, ...xs), y0 = Math.min(...ys), y1 = Math.max(y0 + 1e-6, ...ys);
  const svg = document.createElementNS(ns, "svg"); svg.setAttribute("width", w); svg.setAttribute("height", h + 20);
  const line = document.createElementNS(ns, "polyline"); line.setAttribute("class", "curve");
  line.setAttribute("points", points.map(p => ((p.step - x0) / (x1 - x0) * (w - 10) + 5) + "," + (5 + (y1 - p.loss) / (y1 - y0) * (h - 10))).join(" "));
  svg.append(line);
  const label = document.createElementNS(ns, "text"); label.setAttribute("x", 5); label.setAttribute("y", h + 15);
  label.setAttribute("class", "label"); label.textContent = "step " + xs[xs.length - 1] + ": loss " + ys[ys.length - 1].toFixed(3);
  svg.append(label); container.append(svg);
}

async function watch(id) {
  clearTimeout(watching);
  const j = await (await api("/api/jobs/" + id)).json();
  document.getElementById("job-title").textContent = "job " + j.id + ": " + j.state;
  curve(document.getElementById("job-curve"), j.loss);
  document.getElementById("job-log").textContent = j.log_tail;
  if (!["done", "failed", "cancelled"].includes(j.state)) watching = setTimeout(() => watch(id), 1000);
  else runs();
}

async function startTraining(event) {
  event.preventDefault();
  document.getElementById("train-error").textContent = "";
  try {
    const j = await (await api("/api/jobs/train", {manifest: document.getElementById("train-manifest").value,
      preset: document.getElementById("train-preset").value, steps: Number(document.getElementById("train-steps").value)})).json();
    await runs(); watch(j.id);
  } catch (e) { document.getElementById("train-error").textContent = e.message; }
}

async function startJob(path, body) {
  document.getElementById("train-error").textContent = "";
  try {
    const j = await (await api(path, body)).json();
    await runs(); watch(j.id);
  } catch (e) { document.getElementById("train-error").textContent = e.message; }
}

function value(id) { return document.getElementById(id).value.trim(); }

function tab(name) {
  document.querySelectorAll(".tab").forEach(s => { s.hidden = s.id !== name; });
  if (name === "sql") history();
  if (name === "manifests") manifests();
  if (name === "runs") runs();
}

async function start(who) {
  document.getElementById("who").textContent = who.name + " (" + who.role + ")";
  show("login", false); show("tabs", true); tab("overview"); await overview();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login-form").addEventListener("submit", async event => {
    event.preventDefault();
    try {
      const r = await (await api("/api/login", {token: document.getElementById("token").value})).json();
      csrf = r.csrf; await start(r);
    } catch (e) { document.getElementById("login-error").textContent = e.message; }
  });
  document.querySelectorAll("#tabs button").forEach(b => b.addEventListener("click", () => tab(b.dataset.tab)));
  document.getElementById("doc-form").addEventListener("submit", documents);
  document.getElementById("train-form").addEventListener("submit", startTraining);
  document.getElementById("materialize").addEventListener("click", () => startJob("/api/jobs/mixture", {action: "materialize", manifest: value("train-manifest")}));
  document.getElementById("tag-form").addEventListener("submit", event => { event.preventDefault(); startJob("/api/jobs/tag", {scorer: value("tag-scorer")}); });
  document.getElementById("eval-form").addEventListener("submit", event => {
    event.preventDefault();
    const scorer = value("eval-scorer");
    startJob("/api/jobs/eval", scorer ? {model: value("eval-model"), label: value("eval-label"), scorer}
                                      : {model: value("eval-model"), label: value("eval-label"), toxigen: 0, rtp: 0});
  });
  document.getElementById("sql-form").addEventListener("submit", runSql);
  document.getElementById("sql-csv").addEventListener("click", () => download("csv"));
  document.getElementById("sql-parquet").addEventListener("click", () => download("parquet"));
  document.getElementById("manifest-text").addEventListener("input", () => { clearTimeout(checkTimer); checkTimer = setTimeout(checkManifest, 400); });
  document.getElementById("manifest-save").addEventListener("click", saveManifest);
});
