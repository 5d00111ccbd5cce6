// Meterline's web dashboard. Everything it shows it reads from Meterline's own APIs, with the
// credentials the user gives it; it builds the page with DOM calls only (no HTML from data).
"use strict";

const LEVELS = ["second", "minute", "hour", "day", "month"];
const DAY = 3, MONTH = 4;
const DAYS_SHOWN = 14;   // the daily charts: this day and the 13 before it
const MONTHS_SHOWN = 6;  // the monthly charts: this month and the 5 before it
const PALETTE = ["#2f6fdb", "#e07b39", "#3aa776", "#a855c9", "#d64550", "#8a8f2a", "#2aa8b8", "#7a5c3e"];
const TOKEN_KEY = "meterline.token";
const ORGS_KEY = "meterline.organizations";

// ---------------------------------------------------------------- the page's building blocks

function $(id) { return document.getElementById(id); }

// el builds an element: attrs are attributes (on: event handlers), children nodes or text.
function el(tag, attrs, ...children) {
  const svg = ["svg", "g", "rect", "text", "line", "title"].includes(tag);
  const e = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function fill(id, ...children) {
  const e = typeof id === "string" ? $(id) : id;
  e.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null));
  return e;
}

function errorText(r) {
  if (!r) return "no answer";
  if (r.body && typeof r.body === "object" && r.body.error) {
    const problems = (r.body.problems || []).map((p) => (p.field ? p.field + ": " : "") + p.reason);
    return r.status + " " + r.body.error + (problems.length ? " (" + problems.join("; ") + ")" : "");
  }
  return r.status + " " + (typeof r.body === "string" ? r.body.slice(0, 200) : "");
}

// ---------------------------------------------------------------- numbers and times

// num is a number of a report: a JSON number, or the value of a map metric's summary.
function num(v) { return typeof v === "number" && isFinite(v) ? v : null; }

// show writes a report's number as it came, without rounding it again.
function show(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return JSON.stringify(v);
  const s = String(v);
  return s.includes("e") ? v.toLocaleString("en-US", { maximumFractionDigits: 20, useGrouping: false }) : s;
}

function utc(ms) { return new Date(ms).toISOString(); }
function dayOf(ms) { return utc(ms).slice(0, 10); }
function monthOf(ms) { return utc(ms).slice(0, 7); }
function startOfDay(ms) { const d = new Date(ms); return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()); }
function startOfMonth(ms) { const d = new Date(ms); return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1); }
function addDays(ms, n) { const d = new Date(ms); return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + n); }
function addMonths(ms, n) { const d = new Date(ms); return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1); }

// ---------------------------------------------------------------- the APIs

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function api(path) {
  const headers = { Accept: "application/json" };
  if (token()) headers.Authorization = "Bearer " + token();
  let res;
  try {
    res = await fetch(path, { headers, credentials: "omit", cache: "no-store" });
  } catch (e) {
    return { status: 0, body: { error: "Meterline did not answer: " + e.message } };
  }
  const text = await res.text();
  let body = text;
  try { body = JSON.parse(text); } catch (e) { /* not JSON: kept as text */ }
  if (res.status === 401) askCredentials(errorText({ status: 401, body }));
  return { status: res.status, body, header: res.headers };
}

const enc = encodeURIComponent;
function reportPath(org, t) {
  return "/v1/metering/organizations/" + enc(org) + "/aggregated/usage" + (t === undefined ? "" : "/" + t);
}

function askCredentials(why) {
  $("credentials").hidden = false;
  if (why) $("credentials-why").textContent = "The API answered " + why + ". Give a bearer token or an API key that may read it.";
}

// ---------------------------------------------------------------- health of the pipeline

async function loadHealth() {
  const r = await api("/readyz");
  const pill = $("health");
  const checks = r.body && typeof r.body === "object" ? r.body.checks || {} : {};
  const bad = Object.entries(checks).filter(([, v]) => v !== "ok");
  pill.className = "pill " + (r.status === 200 ? "ok" : "bad");
  pill.textContent = r.status === 200 ? "ready" : "not ready";
  pill.title = Object.entries(checks).map(([k, v]) => k + ": " + v).join("\n") || errorText(r);
  const m = await fetch("/metrics", { cache: "no-store" }).then((x) => (x.ok ? x.text() : "")).catch(() => "");
  const lag = {}, rejected = {};
  for (const line of m.split("\n")) {
    let g = line.match(/^meterline_kafka_consumer_lag_records\{.*group="([^"]*)".*\} (\S+)$/);
    if (g) { lag[g[1]] = (lag[g[1]] || 0) + Number(g[2]); continue; }
    g = line.match(/^meterline_processor_rejected_total\{.*code="([^"]*)".*\} (\S+)$/);
    if (g) rejected[g[1]] = (rejected[g[1]] || 0) + Number(g[2]);
  }
  fill("pipeline",
    el("table", { id: "checks" },
      el("tr", {}, el("th", {}, "check"), el("th", {}, "state")),
      Object.entries(checks).map(([k, v]) => el("tr", { class: v === "ok" ? "" : "error" }, el("td", {}, k), el("td", {}, v)))),
    Object.keys(lag).length ? el("table", { id: "lag" },
      el("tr", {}, el("th", {}, "consumer group"), el("th", { class: "num" }, "lag (records)")),
      Object.entries(lag).sort().map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", { class: "num" }, v)))) : null,
    Object.keys(rejected).length ? el("table", { id: "rejected-codes" },
      el("tr", {}, el("th", {}, "rejected, by code"), el("th", { class: "num" }, "documents")),
      Object.entries(rejected).sort().map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", { class: "num" }, v)))) : null,
    el("p", { class: "muted" }, bad.length ? bad.length + " check(s) failing. " : "", "Lag and rejections are this process's (", el("code", {}, "/metrics"), ")."));
}

// ---------------------------------------------------------------- organizations

function remembered() {
  try { return JSON.parse(localStorage.getItem(ORGS_KEY) || "[]").filter((s) => typeof s === "string").slice(0, 50); } catch (e) { return []; }
}

function remember(org) {
  const list = [org, ...remembered().filter((o) => o !== org)].slice(0, 50);
  localStorage.setItem(ORGS_KEY, JSON.stringify(list));
}

async function loadOrganizations() {
  const r = await api("/v1/metering/organizations?limit=200");
  const listed = r.status === 200 ? r.body.organizations.map((o) => o.organization_id) : [];
  const ids = [...new Set([...listed, ...remembered()])];
  const current = route().org;
  fill("orgs", ids.length ? ids.map((id) => el("li", {}, el("a", { href: "#org=" + enc(id), class: id === current ? "current" : null, "data-org": id }, id)))
    : el("li", { class: "muted" }, "none yet"));
  $("orgs-note").textContent = r.status !== 200 ? "The list could not be read: " + errorText(r)
    : r.body.truncated ? "The first 200 organizations with usage; open another by its id." : "";
}

// ---------------------------------------------------------------- routing

function route() {
  const p = new URLSearchParams(location.hash.slice(1));
  const at = p.get("at");
  return { org: p.get("org") || "", at: at && /^\d{1,15}$/.test(at) ? Number(at) : undefined };
}

function go(org, at) {
  const p = new URLSearchParams();
  p.set("org", org);
  if (at !== undefined) p.set("at", String(at));
  location.hash = p.toString();
}

async function render() {
  const { org, at } = route();
  $("welcome").hidden = !!org;
  $("org").hidden = !org;
  for (const a of document.querySelectorAll("#orgs a")) a.classList.toggle("current", a.dataset.org === org);
  if (org) await showOrganization(org, at);
}

// ---------------------------------------------------------------- an organization

// windowOf returns the window w (0 this period, 1 the one before) of level of a report's windows.
function windowOf(windows, level, w) { return (windows && windows[level] && windows[level][w]) || null; }

// series reads the reports a series of periods needs: the report as of each second period's
// end (its windows hold that period and the one before), the first as of now.
async function series(org, now, level, count) {
  const start = level === DAY ? startOfDay : startOfMonth;
  const add = level === DAY ? addDays : addMonths;
  const periods = [];
  const asks = [];
  for (let k = 0; k < count; k += 2) {
    const p = add(start(now), -k);
    const t = k === 0 ? now : add(p, 1) - 1;
    asks.push(api(reportPath(org, t)).then((r) => ({ k, p, r })));
  }
  const errors = [];
  for (const { k, p, r } of await Promise.all(asks)) {
    if (r.status !== 200 && r.status !== 404) errors.push(errorText(r));
    for (let w = 0; w < 2 && k + w < count; w++) {
      periods.push({ from: add(p, -w), report: r.status === 200 ? r.body : null, w });
    }
  }
  periods.sort((a, b) => a.from - b.from);
  return { periods, errors };
}

// periodFigures reads the charge of each resource and the quantity and charge of each metric
// of one window of a report.
function periodFigures(report, level, w) {
  const f = { charge: null, resources: {}, metrics: {} };
  if (!report) return f;
  f.charge = num((windowOf(report.windows, level, w) || {}).charge);
  for (const r of report.resources || []) {
    f.resources[r.resource_id] = num((windowOf(r.windows, level, w) || {}).charge);
    for (const m of r.aggregated_usage || []) {
      const v = windowOf(m.windows, level, w) || {};
      f.metrics[r.resource_id + " · " + m.metric] = { quantity: num(v.quantity) ?? num(v.summary), charge: num(v.charge) };
    }
  }
  return f;
}

let drawn = 0; // a newer render supersedes an older one still waiting for its answers

async function showOrganization(org, at) {
  const mine = ++drawn;
  $("org-title").textContent = org;
  fill("org-status", "loading…");
  fill("instance").hidden = true;
  const r = await api(reportPath(org, at));
  if (mine !== drawn) return;
  if (r.status !== 200) {
    fill("org-status", el("span", { class: "error" }, r.status === 404 ? "No usage of " + org + " in the report's windows" + (at ? " as of " + utc(at) : "") + "." : errorText(r)));
    for (const id of ["cards", "metrics", "instances", "rejections", "instance"]) fill(id);
    for (const c of document.querySelectorAll(".chart")) fill(c);
    await showRejections(org);
    return;
  }
  remember(org);
  const rep = r.body;
  const now = rep.end;
  $("asof-time").value = utc(now).slice(0, 19);
  fill("org-status", "As of " + utc(now) + (at === undefined ? " (now)" : "") + "; processed up to " + utc(rep.processed) +
    (r.header.get("Meterline-Settled") === "true" ? "; settled: this report will not change." : "."));
  const day = periodFigures(rep, DAY, 0), month = periodFigures(rep, MONTH, 0);
  fill("cards",
    card("charge-month", "Charge, " + monthOf(now), show(month.charge)),
    card("charge-day", "Charge, " + dayOf(now), show(day.charge)),
    card("resources", "Resources", (rep.resources || []).length),
    card("spaces", "Spaces", (rep.spaces || []).length));
  showMetrics(rep);
  barsByKey("chart-resource", "Charge by resource, " + monthOf(now), (rep.resources || []).map((x) => [x.resource_id, windowOf(x.windows, MONTH, 0)]));
  barsByKey("chart-space", "Charge by space, " + monthOf(now), (rep.spaces || []).map((x) => [x.space_id, windowOf(x.windows, MONTH, 0)]));
  barsByKey("chart-consumer", "Charge by consumer, " + monthOf(now),
    (rep.spaces || []).flatMap((s) => (s.consumers || []).map((c) => [c.consumer_id, windowOf(c.windows, MONTH, 0), s.space_id])));
  const [days, months] = await Promise.all([series(org, now, DAY, DAYS_SHOWN), series(org, now, MONTH, MONTHS_SHOWN)]);
  if (mine !== drawn) return;
  timeCharts("day", days, DAY, dayOf);
  timeCharts("month", months, MONTH, monthOf);
  const errors = [...days.errors, ...months.errors];
  if (errors.length) $("org-status").append(el("span", { class: "error" }, " Some past reports failed: " + errors[0]));
  await Promise.all([showInstances(org, now), showRejections(org)]);
}

function card(id, label, value) {
  return el("div", { class: "card", id: "card-" + id }, el("div", { class: "muted" }, label), el("div", { class: "value" }, value));
}

function showMetrics(rep) {
  const rows = [];
  for (const r of rep.resources || []) {
    for (const p of r.plans || []) {
      for (const m of p.aggregated_usage || []) {
        const d = windowOf(m.windows, DAY, 0) || {}, mo = windowOf(m.windows, MONTH, 0) || {};
        rows.push(el("tr", {}, el("td", {}, r.resource_id), el("td", {}, p.plan_id), el("td", {}, m.metric),
          el("td", { class: "num" }, show(d.quantity)), el("td", { class: "num" }, show(d.charge)),
          el("td", { class: "num" }, show(mo.quantity)), el("td", { class: "num" }, show(mo.charge))));
      }
    }
  }
  const month = windowOf(rep.windows, MONTH, 0) || {}, day = windowOf(rep.windows, DAY, 0) || {};
  fill("metrics", el("table", { id: "metrics-table" },
    el("tr", {}, el("th", {}, "resource"), el("th", {}, "plan"), el("th", {}, "metric"),
      el("th", { class: "num" }, "quantity, day"), el("th", { class: "num" }, "charge, day"),
      el("th", { class: "num" }, "quantity, month"), el("th", { class: "num" }, "charge, month")),
    rows,
    el("tr", {}, el("th", { colspan: 4 }, "total"), el("th", { class: "num" }, show(day.charge)), el("th", {}), el("th", { class: "num", id: "total-month" }, show(month.charge)))));
}

// ---------------------------------------------------------------- charts (SVG, drawn here)

const W = 640, H = 240, PAD_L = 56, PAD_B = 36, PAD_T = 20;

function ticks(max) {
  if (max <= 0) return [0];
  const step = Math.pow(10, Math.floor(Math.log10(max)));
  const n = max / step;
  const s = n > 5 ? 2 * step : n > 2 ? step : step / 2;
  const out = [0];
  // Up to the first tick at or above max, so that the tallest column fits under the top line.
  for (let i = 1; out[out.length - 1] < max; i++) out.push(Number((i * s).toPrecision(12)));
  return out;
}

// columns draws a column per period, stacked by key: bars are [{label, total, parts: [[key, value]]}].
function columns(id, title, bars, keys, unit, extra) {
  const fig = $(id);
  const max = Math.max(0, ...bars.map((b) => b.parts.reduce((a, [, v]) => a + (v || 0), 0)));
  const ys = ticks(max), top = ys[ys.length - 1] || 1;
  const plotW = W - PAD_L - 32, plotH = H - PAD_T - PAD_B;
  const bw = plotW / Math.max(1, bars.length);
  const y = (v) => PAD_T + plotH - (v / top) * plotH;
  const color = (k) => PALETTE[keys.indexOf(k) % PALETTE.length];
  const svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title },
    ys.map((v) => el("g", {}, el("line", { class: "axis", x1: PAD_L, x2: PAD_L + plotW, y1: y(v), y2: y(v) }),
      el("text", { x: PAD_L - 4, y: y(v) + 4, "text-anchor": "end" }, show(v)))),
    bars.map((b, i) => {
      let acc = 0;
      const x = PAD_L + i * bw + bw * 0.15, w = bw * 0.7;
      return el("g", { class: "bar", "data-period": b.label, "data-value": b.total === null ? "" : show(b.total) },
        b.parts.filter(([, v]) => v).map(([k, v]) => {
          const r = el("rect", { x, y: y(acc + v), width: w, height: Math.max(0.5, (v / top) * plotH), fill: color(k) },
            el("title", {}, b.label + " · " + k + ": " + show(v) + (unit ? " " + unit : "")));
          acc += v;
          return r;
        }),
        b.total !== null && b.total !== 0 ? el("text", { class: "total", x: x + w / 2, y: y(acc) - 4, "text-anchor": "middle" }, show(b.total)) : null,
        (bars.length - 1 - i) % Math.ceil(bars.length / 7) === 0
          ? el("text", { x: x + w / 2, y: H - PAD_B + 14, "text-anchor": "middle" }, b.label) : null);
    }));
  fill(fig, el("figcaption", {}, el("span", {}, title), extra || null), svg,
    keys.length > 1 ? el("div", { class: "legend" }, keys.map((k) => { const s = el("span", {}, k); s.style.setProperty("--c", color(k)); return s; })) : null);
}

function timeCharts(kind, { periods }, level, label) {
  const figs = periods.map((p) => ({ label: label(p.from), f: periodFigures(p.report, level, p.w) }));
  const resources = [...new Set(figs.flatMap((x) => Object.keys(x.f.resources)))].sort();
  const name = kind === "day" ? "day" : "month";
  columns("chart-cost-" + kind, "Charge per " + name + ", by resource",
    figs.map((x) => ({ label: x.label, total: x.f.charge, parts: resources.map((r) => [r, x.f.resources[r] || 0]) })), resources);
  const metrics = [...new Set(figs.flatMap((x) => Object.keys(x.f.metrics)))].sort();
  const chosen = sessionStorage.getItem("meterline.metric." + kind);
  const metric = metrics.includes(chosen) ? chosen : metrics[0];
  const select = el("select", { "aria-label": "metric", onchange: (e) => { sessionStorage.setItem("meterline.metric." + kind, e.target.value); timeCharts(kind, { periods }, level, label); } },
    metrics.map((m) => el("option", { value: m, selected: m === metric }, m)));
  columns("chart-quantity-" + kind, "Quantity per " + name,
    figs.map((x) => { const q = metric ? (x.f.metrics[metric] || {}).quantity ?? null : null; return { label: x.label, total: q, parts: [[metric, q || 0]] }; }),
    metric ? [metric] : [], "", metrics.length ? select : el("span", { class: "muted" }, "no metric"));
}

// barsByKey draws one row per key of this month's window: items are [key, window, note].
function barsByKey(id, title, items) {
  const rows = items.map(([k, w, note]) => ({ k, v: num((w || {}).charge), note })).sort((a, b) => (b.v || 0) - (a.v || 0));
  const max = Math.max(0, ...rows.map((r) => r.v || 0)) || 1;
  const rowH = 22, h = Math.max(1, rows.length) * rowH + 8, labelW = 220, plotW = W - labelW - 80;
  const svg = el("svg", { viewBox: "0 0 " + W + " " + h, role: "img", "aria-label": title },
    rows.map((r, i) => el("g", { class: "bar", "data-key": r.k, "data-value": r.v === null ? "" : show(r.v) },
      el("text", { x: labelW - 6, y: i * rowH + 16, "text-anchor": "end" }, r.k.length > 30 ? r.k.slice(0, 29) + "…" : r.k,
        el("title", {}, r.k + (r.note ? " (space " + r.note + ")" : ""))),
      el("rect", { x: labelW, y: i * rowH + 4, width: Math.max(0.5, ((r.v || 0) / max) * plotW), height: rowH - 8, fill: PALETTE[i % PALETTE.length] }),
      el("text", { class: "total", x: labelW + ((r.v || 0) / max) * plotW + 4, y: i * rowH + 16 }, show(r.v)))));
  fill(id, el("figcaption", {}, el("span", {}, title)), rows.length ? svg : el("p", { class: "muted" }, "no usage"));
}

// ---------------------------------------------------------------- drill-down to an instance

async function showInstances(org, now) {
  const r = await api("/v1/metering/organizations/" + enc(org) + "/resource_instances?limit=200");
  if (r.status !== 200) { fill("instances", el("p", { class: "error" }, errorText(r))); return; }
  const list = r.body.resource_instances;
  fill("instances", list.length ? el("table", { id: "instances-table" },
    el("tr", {}, ["space", "consumer", "resource", "plan", "instance", "months"].map((h) => el("th", {}, h))),
    list.map((i) => el("tr", {}, el("td", {}, i.space_id), el("td", {}, i.consumer_id), el("td", {}, i.resource_id), el("td", {}, i.plan_id),
      el("td", {}, el("a", { href: "#", class: "instance-link", "data-instance": i.resource_instance_id, onclick: (e) => { e.preventDefault(); showInstance(org, i, now); } }, i.resource_instance_id)),
      el("td", {}, monthOf(i.from) + " – " + monthOf(i.to - 1))))) : el("p", { class: "muted" }, "none"),
  r.body.truncated ? el("p", { class: "muted" }, "The first 200 instances.") : null);
}

async function showInstance(org, i, now) {
  const dash = (s) => enc(s || "-");
  const path = "/v1/metering/organizations/" + enc(org) + "/resource_instances/" + enc(i.resource_instance_id) +
    "/consumers/" + enc(i.consumer_id) + "/plans/" + dash(i.plan_id) + "/metering_plans/" + dash(i.metering_plan_id) +
    "/rating_plans/" + dash(i.rating_plan_id) + "/pricing_plans/" + dash(i.pricing_plan_id) + "/aggregated/usage/" + now;
  const box = $("instance");
  box.hidden = false;
  fill(box, el("p", { class: "muted" }, "loading…"));
  const r = await api(path);
  if (r.status !== 200) {
    fill(box, el("h4", {}, "Instance " + i.resource_instance_id), el("p", { class: "error" },
      r.status === 404 ? "No usage of this instance in the windows as of " + utc(now) + "." : errorText(r)));
    return;
  }
  const rep = r.body;
  fill(box, el("h4", { id: "instance-title" }, "Instance " + i.resource_instance_id + " of " + i.consumer_id + " (" + i.resource_id + ", plan " + i.plan_id + ")"),
    el("table", { id: "instance-table" },
      el("tr", {}, ["metric", "quantity, day", "charge, day", "quantity, month", "charge, month"].map((h, k) => el("th", { class: k ? "num" : null }, h))),
      (rep.accumulated_usage || []).map((m) => {
        const d = windowOf(m.windows, DAY, 0) || {}, mo = windowOf(m.windows, MONTH, 0) || {};
        return el("tr", {}, el("td", {}, m.metric), el("td", { class: "num" }, show(d.quantity)), el("td", { class: "num" }, show(d.charge)),
          el("td", { class: "num" }, show(mo.quantity)), el("td", { class: "num" }, show(mo.charge)));
      }),
      el("tr", {}, el("th", {}, "total"), el("th", {}), el("th", { class: "num" }, show((windowOf(rep.windows, DAY, 0) || {}).charge)),
        el("th", {}), el("th", { class: "num", id: "instance-total-month" }, show((windowOf(rep.windows, MONTH, 0) || {}).charge)))),
    el("p", { class: "muted" }, el("code", {}, path)));
}

// ---------------------------------------------------------------- rejected documents

async function showRejections(org) {
  const r = await api("/v1/metering/organizations/" + enc(org) + "/rejections?limit=100");
  if (r.status !== 200) { fill("rejections", el("p", { class: "error" }, errorText(r))); return; }
  const list = r.body.rejections;
  fill("rejections", list.length ? el("table", { id: "rejections-table" },
    el("tr", {}, ["code", "reason", "resource", "plan", "usage ended", "document"].map((h) => el("th", {}, h))),
    list.map((x) => el("tr", { "data-code": x.code }, el("td", {}, x.code), el("td", {}, x.reason), el("td", {}, x.resource_id), el("td", {}, x.plan_id),
      el("td", {}, utc(x.end)), el("td", {}, el("code", {}, x.id))))) : el("p", { class: "muted" }, "none: every document of this organization was counted"),
  r.body.truncated ? el("p", { class: "muted" }, "The latest 100.") : null);
}

// ---------------------------------------------------------------- one document

async function lookup(raw) {
  let id = raw.trim();
  const m = id.match(/\/v1\/metering\/collected\/usage\/([^/?#]+)/);
  if (m) id = decodeURIComponent(m[1]);
  const r = await api("/v1/metering/collected/usage/" + enc(id));
  if (r.status !== 200) { fill("doc", el("p", { class: "error" }, errorText(r))); return; }
  const d = r.body;
  fill("doc", el("dl", { id: "doc-result" },
    el("dt", {}, "state"), el("dd", { id: "doc-state" }, d.rejected ? "rejected: " + d.rejected.code : "accepted"),
    d.rejected ? [el("dt", {}, "reason"), el("dd", {}, d.rejected.reason)] : null,
    el("dt", {}, "organization"), el("dd", {}, el("a", { href: "#org=" + enc(d.organization_id) }, d.organization_id)),
    el("dt", {}, "resource, plan"), el("dd", {}, d.resource_id + ", " + d.plan_id),
    el("dt", {}, "ended"), el("dd", {}, utc(d.end)),
    el("dt", {}, "measured"), el("dd", {}, (d.measured_usage || []).map((u) => u.measure + " " + show(u.quantity)).join(", "))));
}

// ---------------------------------------------------------------- wiring

function init() {
  $("credentials-toggle").addEventListener("click", () => { $("credentials").hidden = !$("credentials").hidden; });
  $("credentials").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    $("credentials").hidden = true;
    loadOrganizations();
    render();
  });
  $("token-clear").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); $("token").value = ""; });
  $("open-org").addEventListener("submit", (e) => { e.preventDefault(); go($("org-id").value.trim()); });
  $("lookup").addEventListener("submit", (e) => { e.preventDefault(); lookup($("doc-id").value); });
  $("asof").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = $("asof-time").value;
    const t = v ? Date.parse(v + (v.length === 16 ? ":00" : "") + "Z") : NaN;
    if (!isNaN(t)) go(route().org, t);
  });
  $("asof-now").addEventListener("click", () => go(route().org));
  window.addEventListener("hashchange", render);
  loadHealth();
  setInterval(loadHealth, 15000);
  loadOrganizations().then(render);
}

init();
