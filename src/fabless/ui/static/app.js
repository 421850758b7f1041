// fabless ui: the form -> /api/estimate and /api/compare -> the figures, tables and chart.
// document.body.dataset.state is "loading", "busy", "ready" or "error" (tests wait on it).
"use strict";

const $ = (id) => document.getElementById(id);
const form = $("form");
let options = null;
let seq = 0;          // the newest request; older answers are dropped
let timer = null;
let lastSystem = "";  // the system the last estimate ran on (an uploaded chip is placed there)

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

// A number with 4 significant digits and thousands separators, as the CLI's tables print it.
function fmt(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return "-";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a < 1e-4) return v.toExponential(digits - 1);
  const e = Math.floor(Math.log10(a));
  const decimals = Math.max(0, digits - 1 - e);
  return v.toLocaleString("en-US", {minimumFractionDigits: 0, maximumFractionDigits: decimals});
}

function setState(state, text) {
  document.body.dataset.state = state;
  $("status").textContent = text;
}

function showError(line) {
  const box = $("error");
  box.textContent = "error: " + line;
  box.hidden = false;
  document.querySelector("main").classList.add("stale");
  setState("error", "input error");
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
  document.querySelector("main").classList.remove("stale");
}

function fillSelect(sel, items, value) {
  sel.innerHTML = items.map(([v, label]) => `<option value="${esc(v)}">${esc(label)}</option>`).join("");
  if (value !== undefined) sel.value = value;
}

function chipOptions() {
  const byVendor = {};
  for (const c of options.chips) (byVendor[c.vendor] = byVendor[c.vendor] || []).push(c.name);
  let html = Object.keys(byVendor).sort().map((v) =>
    `<optgroup label="${esc(v)}">` + byVendor[v].map((n) => `<option value="${esc(n)}">${esc(n)}</option>`).join("") + "</optgroup>").join("");
  const ups = options.uploads || [];
  if (ups.length) {
    html += `<optgroup label="your files">` + ups.map((u) => `<option value="${esc(u.ref)}">${esc(u.filename)} (${esc(u.name)})</option>`).join("") + "</optgroup>";
  }
  return html;
}

function compareBoxes(checked) {
  const all = options.chips.map((c) => [c.name, c.name]).concat((options.uploads || []).map((u) => [u.ref, u.filename]));
  $("compare").innerHTML = all.map(([v, label]) =>
    `<label><input type="checkbox" name="compare" value="${esc(v)}"${checked.includes(v) ? " checked" : ""}> ${esc(label)}</label>`).join("");
}

// how the comparison names a chip: a preset by its name, an uploaded file by its file name
function chipLabel(ref) {
  const up = (options.uploads || []).find((u) => u.ref === ref);
  return up ? up.filename : ref;
}

function inputs() {
  const f = new FormData(form);
  const val = (k) => { const v = (f.get(k) || "").toString().trim(); return v === "" ? null : v; };
  const int = (k) => { const v = val(k); return v === null ? null : (/^\d+$/.test(v) ? Number(v) : v); };
  const phase = f.get("phase");
  const out = {model: val("model"), chip: val("chip"), system: val("system"), chips: int("chips"),
               precision: val("precision"), phase: phase, compare: f.getAll("compare")};
  if (f.get("plan") === "auto") out.parallel = "auto";
  else {
    out.parallel = ["tp", "pp", "dp", "ep"].map((k) => `${k}=${val(k) ?? ""}`).join(",");
  }
  if (phase === "inference") {
    out.batch = val("batch"); out.input_tokens = int("input_tokens"); out.output_tokens = int("output_tokens");
  } else {
    out.global_batch = int("global_batch"); out.seq_len = int("seq_len"); out.mode = val("mode");
  }
  return out;
}

async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  let data = null;
  try { data = await r.json(); } catch (e) { data = {error: `the server answered ${r.status} without a result`}; }
  if (!r.ok) throw new Error(data.error || `the server answered ${r.status}`);
  return data;
}

function renderEstimate(d) {
  $("title").textContent = d.title;
  $("plan").textContent = "plan: " + d.plan;
  $("figures").innerHTML = d.figures.map((f) => {
    const band = f.lo_text !== undefined
      ? `<div class="band" title="${esc(f.band)}">80% band ${esc(f.lo_text)}–${esc(f.hi_text)} ${esc(f.unit === "%" ? "%" : f.unit)} · ${esc(f.rows)} rows${f.sources ? ` of ${esc(f.sources)} publication${f.sources === 1 ? "" : "s"}` : ""} (${esc(f.regime)})</div>`
      : `<div class="band none">${f.band ? "unvalidated: no band" : "&nbsp;"}</div>`;
    const note = f.unit_note ? ` <span class="unit">${esc(f.unit_note)}</span>` : "";
    return `<div class="fig" data-key="${esc(f.key)}"><div class="label">${esc(f.label)}</div>` +
      `<div class="value"><span class="num">${esc(f.text)}</span><span class="unit">${esc(f.unit === "%" ? "%" : f.unit)}</span>${note}</div>${band}</div>`;
  }).join("");
  $("costs").innerHTML = `<tr><th></th><th class="n">buy</th><th class="n">rent</th></tr>` +
    [...new Set(d.costs.map((c) => c.what))].map((what) => {
      const cell = (how) => { const c = d.costs.find((x) => x.what === what && x.how === how);
        return `<td class="n" data-cost="${how}-${esc(what)}">${esc(c.text)} <span class="u">${esc(c.unit)}</span></td>`; };
      const label = what === "chip-hour" ? "per chip-hour" : `per million ${what} tokens`;
      return `<tr><td>${esc(label)}</td>${cell("buy")}${cell("rent")}</tr>`;
    }).join("") +
    `<tr><td>power while running</td><td class="n" colspan="2">${fmt(d.power_w)} <span class="u">W/chip</span></td></tr>`;
  const buy = d.costs.find((c) => c.how === "buy"), rent = d.costs.find((c) => c.how === "rent");
  $("cost-basis").textContent = `Buy: ${buy.basis}. Rent: ${rent.basis}.`;
  $("memory").innerHTML = `<tr><th>part</th><th class="n">per chip</th></tr>` + d.memory.map((m) =>
    `<tr${m.part === "total" ? ' style="font-weight:600"' : ""}><td>${esc(m.part)}</td><td class="n">${fmt(m.gb)} <span class="u">GB</span></td></tr>`).join("");
  const top = d.breakdown.slice(0, 12);
  $("breakdown").innerHTML = `<tr><th>part</th><th class="n">time</th><th class="n">share</th></tr>` + top.map((b) =>
    `<tr><td>${esc(b.part)}</td><td class="n">${fmt(b.seconds * 1e3)} <span class="u">ms</span></td>` +
    `<td class="n">${b.share === null ? "-" : (100 * b.share).toFixed(1)} <span class="u">%</span></td></tr>`).join("") +
    (d.breakdown.length > top.length ? `<tr><td colspan="3" class="u">and ${d.breakdown.length - top.length} smaller parts (fabless estimate lists them all)</td></tr>` : "");
  $("notes").innerHTML = d.notes.length ? d.notes.map((n) => `<li>${esc(n)}</li>`).join("") : "<li>none</li>";
  $("cli").textContent = d.cli + " --json";
  lastSystem = d.estimate.system;
}

function renderCompare(c, current) {
  const ok = c.rows.filter((r) => !r.error);
  $("compare-sub").textContent = `the same scenario on each chip's smallest system, at the same chip count; ${current} in dark`;
  const names = ok.map((r) => r.chip);
  const traces = [
    {type: "bar", name: c.tokens_label, x: names, y: ok.map((r) => r.tokens_per_s_per_chip), marker: {color: names.map((n) => n === current ? "#14213d" : "#5b84c4")}, showlegend: false,
     hovertemplate: "%{x}: %{y:,.4r} tokens/s per chip<extra></extra>"},
    {type: "bar", name: "buy", x: names, y: ok.map((r) => r.buy_usd_per_mtoken), xaxis: "x2", yaxis: "y2", marker: {color: "#e07a1f"},
     hovertemplate: "%{x}: $%{y:.3r} per Mtoken (buy)<extra></extra>"},
    {type: "bar", name: "rent", x: names, y: ok.map((r) => r.rent_usd_per_mtoken), xaxis: "x2", yaxis: "y2", marker: {color: "#7a9cc6"},
     hovertemplate: "%{x}: $%{y:.3r} per Mtoken (rent)<extra></extra>"},
  ];
  const layout = {
    margin: {l: 60, r: 20, t: 34, b: 70}, barmode: "group", showlegend: false,
    annotations: [
      {text: `<b>${esc(c.tokens_label)}</b>`, x: 0, xref: "paper", xanchor: "left", y: 1.16, yref: "paper", showarrow: false},
      {text: `<b>${esc(c.cost_label)}</b>: <span style="color:#e07a1f">■ buy</span>  <span style="color:#7a9cc6">■ rent</span>`,
       x: 0.56, xref: "paper", xanchor: "left", y: 1.16, yref: "paper", showarrow: false}],
    font: {family: "system-ui, sans-serif", size: 12, color: "#1b2430"},
    xaxis: {domain: [0, 0.46], tickangle: -30}, yaxis: {title: {text: "tokens/s per chip"}, rangemode: "tozero", gridcolor: "#eceff3"},
    xaxis2: {domain: [0.56, 1], anchor: "y2", tickangle: -30},
    yaxis2: {title: {text: "$/Mtoken"}, anchor: "x2", rangemode: "tozero", gridcolor: "#eceff3"},
    paper_bgcolor: "#fff", plot_bgcolor: "#fff",
  };
  Plotly.react("chart", traces, layout, {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"]});
  $("compare-table").innerHTML = `<tr><th>chip</th><th>system</th><th class="n">chips</th><th>plan</th><th class="n">${esc(c.tokens_label)}</th>` +
    `<th class="n">power</th><th class="n">buy</th><th class="n">rent</th></tr>` + c.rows.map((r) => r.error
      ? `<tr data-chip="${esc(r.chip)}"><td>${esc(r.chip)}</td><td colspan="7" class="err">${esc(r.error)}</td></tr>`
      : `<tr data-chip="${esc(r.chip)}"${r.chip === current ? ' class="current"' : ""}><td>${esc(r.chip)}</td><td>${esc(r.system)}</td><td class="n">${r.chips}</td><td>${esc(r.plan)}</td>` +
        `<td class="n">${fmt(r.tokens_per_s_per_chip)} <span class="u">tokens/s</span></td><td class="n">${fmt(r.power_w)} <span class="u">W</span></td>` +
        `<td class="n" title="${esc(r.buy_price_basis)}">${r.buy_usd_per_mtoken == null ? "no price" : fmt(r.buy_usd_per_mtoken, 3) + ' <span class="u">$/Mtoken</span>'}</td>` +
        `<td class="n" title="${esc(r.rent_price_basis)}">${r.rent_usd_per_mtoken == null ? "no price" : fmt(r.rent_usd_per_mtoken, 3) + ' <span class="u">$/Mtoken</span>'}</td></tr>`).join("");
}

async function update() {
  const my = ++seq;
  const body = inputs();
  setState("busy", "estimating…");
  try {
    // the chip chosen is always among those compared
    const compare = body.compare.includes(body.chip) || !body.chip ? body.compare : body.compare.concat([body.chip]);
    const [est, cmp] = await Promise.all([post("/api/estimate", body), post("/api/compare", {...body, compare: compare})]);
    if (my !== seq) return;
    clearError();
    renderEstimate(est);
    if (cmp) renderCompare(cmp, chipLabel(body.chip));
    setState("ready", "up to date");
  } catch (e) {
    if (my !== seq) return;
    showError(e.message);
  }
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(update, 250);
}

function syncVisibility() {
  const phase = new FormData(form).get("phase");
  $("inference-fields").hidden = phase !== "inference";
  $("training-fields").hidden = phase !== "training";
  $("plan-fields").hidden = new FormData(form).get("plan") !== "given";
}

async function upload(file) {
  const text = await file.text();
  try {
    const up = await post("/api/chip", {filename: file.name, text: text});
    options.uploads = (options.uploads || []).filter((u) => u.ref !== up.ref).concat([up]);
    const checked = new FormData(form).getAll("compare").concat([up.ref]);
    $("chip").innerHTML = chipOptions();
    $("chip").value = up.ref;
    compareBoxes(checked);
    // a chip file has no system of its own: place it in the system the last estimate ran on
    if (!$("system").value && lastSystem) $("system").value = lastSystem;
    update();
  } catch (e) {
    showError(e.message);
  } finally {
    $("upload").value = "";
  }
}

async function download() {
  const q = new URLSearchParams();
  const body = inputs();
  for (const [k, v] of Object.entries(body)) if (v !== null && k !== "compare") q.set(k, v);
  const r = await fetch("/report.html?" + q.toString());
  if (!r.ok) {
    let line = `the server answered ${r.status}`;
    const text = await r.text();
    try { line = JSON.parse(text).error; } catch (e) { line = text.replace(/^error: /, "").trim() || line; }
    showError(line);
    return;
  }
  const blob = await r.blob();
  const m = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "");
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = m ? m[1] : "fabless-report.html";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

async function init() {
  const r = await fetch("/api/options");
  options = await r.json();
  const d = options.defaults;
  $("version").textContent = options.version;
  fillSelect($("model"), options.models.map((m) => [m, m]), d.model);
  $("chip").innerHTML = chipOptions();
  $("chip").value = d.chip;
  fillSelect($("system"), [["", "auto: the smallest system of the chip"]].concat(
    options.systems.map((s) => [s.name, `${s.name} (${s.chips} x ${s.chip})`])), d.system);
  fillSelect($("precision"), options.precisions.map((p) => [p, p]), d.precision);
  fillSelect($("mode"), options.modes.map((m) => [m, m]), d.mode);
  for (const k of ["batch", "input_tokens", "output_tokens", "global_batch", "seq_len"]) $(k).value = d[k];
  compareBoxes(options.compare);
  form.addEventListener("input", (e) => { if (e.target.id !== "upload") { syncVisibility(); schedule(); } });
  form.addEventListener("change", (e) => {
    if (e.target.id === "upload") { if (e.target.files.length) upload(e.target.files[0]); return; }
    if (e.target.id === "system" && e.target.value) {
      // a system brings its own chip; choosing another chip afterwards places that chip in it
      const s = options.systems.find((x) => x.name === e.target.value);
      if (s) $("chip").value = s.chip;
    }
    syncVisibility();
    schedule();
  });
  $("report").addEventListener("click", download);
  syncVisibility();
  await update();
}

init().catch((e) => showError(e.message));
