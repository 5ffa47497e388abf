// A minimal DOM for running report.js under node: elements keep children and text; the
// page's KPI cards are read back by their data-kpi attributes.
"use strict";
const fs = require("fs");
class El {
  constructor(tag) { this.tag = tag; this.attrs = {}; this.children = []; this._text = ""; this.style = {}; this.dataset = {}; this.value = ""; }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  getAttribute(k) { return this.attrs[k]; }
  appendChild(c) { this.children.push(c); return c; }
  append(...cs) { this.children.push(...cs); }
  replaceChildren(...cs) { this.children = cs; }
  addEventListener() {}
  querySelector() { return new El("div"); }
  querySelectorAll() { return []; }
  set textContent(v) { this._text = String(v); this.children = []; }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); }
  get classList() { return {add() {}, remove() {}, toggle() {}}; }
}
const byId = new Map();
const bySelector = new Map();
const html = fs.readFileSync(process.argv[2], "utf8");
const data = html.match(/<script id="report-data" type="application\/json">([\s\S]*?)<\/script>/)[1];
const js = html.match(/<script>([\s\S]*?)<\/script>\s*<\/body>/)[1];
global.document = {
  body: new El("body"),
  getElementById(id) { if (!byId.has(id)) { const e = new El("div"); if (id === "report-data") e._text = data; byId.set(id, e); } return byId.get(id); },
  createElement: (t) => new El(t), createElementNS: (_n, t) => new El(t),
  createTextNode: (t) => { const e = new El("#text"); e._text = t; return e; },
  // the same element for the same selector, so a table's body can be read back
  querySelector(sel) { if (!bySelector.has(sel)) bySelector.set(sel, new El("div")); return bySelector.get(sel); },
  querySelectorAll: () => [],
};
global.window = {addEventListener() {}}; global.location = {hash: process.argv[3] || ""};
global.history = {replaceState() {}};
eval(js);
const out = {};
const walk = (e) => { if (e.attrs && e.attrs["data-kpi"]) out[e.attrs["data-kpi"]] = e.children[1].textContent; (e.children || []).forEach(walk); };
byId.forEach(walk);
if (byId.has("freshness")) out._freshness = byId.get("freshness").textContent;
if (byId.has("skew")) out._skew = byId.get("skew").textContent;
// the daily chart: its x-axis labels and how many days its lines have
const daily = byId.get("chart-daily");
if (daily && daily.children[0]) {
  const svg = daily.children[0].children;
  out._daily_labels = svg.filter((c) => c.tag === "text" && c.attrs["text-anchor"] === "middle").map((c) => c.textContent);
  const line = svg.find((c) => c.tag === "polyline");
  out._daily_points = line ? line.attrs.points.split(" ").length : 0;
}
// the cost chart: its legend and each line's heights (SVG y: a lower cost is a larger y)
const cost = byId.get("chart-cost");
if (cost && cost.children[0]) {
  out._cost_legend = cost.children[1] ? cost.children[1].children.map((c) => c.textContent) : [];
  out._cost_lines = cost.children[0].children.filter((c) => c.tag === "polyline")
    .map((c) => c.attrs.points.split(" ").map((p) => Number(p.split(",")[1])));
}
// the recall chart: its legend and each bar's tooltip ("<type> <series>: <value>")
const recall = byId.get("chart-recall");
if (recall && recall.children[0]) {
  out._recall_legend = recall.children[1] ? recall.children[1].children.map((c) => c.textContent) : [];
  out._recall_bars = recall.children[0].children.filter((c) => c.tag === "rect").map((c) => c.children[0].textContent);
  // each series' fill, by its name (the legend's), as drawn
  out._recall_fills = {};
  recall.children[0].children.filter((c) => c.tag === "rect").forEach((c) => { out._recall_fills[c.attrs["data-series"]] = c.attrs.fill; });
}
if (byId.has("recall-at")) out._recall_at = byId.get("recall-at").textContent;
// the run's footer: each run.json key's name and value as shown
const runInfo = byId.get("run-info");
if (runInfo) {
  out._run_info_text = runInfo.textContent;
  out._run = {};
  const items = (e) => (e.children || []).forEach((c) => { if (c.attrs && c.attrs["data-run"]) out._run[c.attrs["data-run"]] = c.children.map((x) => x.textContent); else items(c); });
  items(runInfo);
}
// the assurance table: each row's cells as shown
const assurance = bySelector.get("#assurance-table tbody");
if (assurance) out._assurance_rows = assurance.children.map((tr) => tr.children.map((td) => td.textContent));
process.stdout.write(JSON.stringify(out));
