"use strict";
// auditstream report: every value comes from the JSON block; text goes in via textContent only.
(function () {
  const D = JSON.parse(document.getElementById("report-data").textContent);
  // the mode the recommended threshold is for (run.json; `combined` unless set otherwise)
  const RECMODE = ["ml", "hybrid", "combined"].includes((D.run || {}).recommended_mode) ? D.run.recommended_mode : "combined";
  const SVG = "http://www.w3.org/2000/svg";
  // each series' colour by its key, as Power BI's visuals have it (dashboard/series.py: one
  // declaration), never by position; GREY is the axes'
  const COLOR = D.colors || {};
  const ML = COLOR.ml, HY = COLOR.hybrid, RULE = COLOR.rules, CO = COLOR.combined, GREY = "#9aa5b1";
  const num = (v) => (v === "" || v === undefined || v === null ? NaN : Number(v));
  const pct = (v) => (isNaN(v) ? "n/a" : (v * 100).toFixed(1) + "%");
  const pctRaw = (v) => (isNaN(v) ? "n/a" : v.toFixed(1) + "%");
  const int = (v) => (isNaN(v) ? "n/a" : Math.round(v).toLocaleString("en-US"));
  const money = (v) => (isNaN(v) ? "n/a" : v.toLocaleString("en-US", {maximumFractionDigits: 2}));
  // a column or run.json key as a person reads it (dashboard.labels.column_label, the names
  // Power BI's visuals show)
  const LABELS = D.labels || {};
  const named = (c) => LABELS[c] || c.replace(/_/g, " ");
  // an ISO time as the cards and tables show it: date and time apart, no `T`
  const when = (v) => String(v).replace(/^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)/, "$1 $2");
  const rows = D.thresholds || [];
  const byK = new Map(rows.map((r) => [Math.round(num(r.threshold) * 100), r]));
  const rec = rows.find((r) => String(r.is_recommended).toLowerCase() === "true");
  const recK = rec ? Math.round(num(rec.threshold) * 100) : null;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svgEl(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function card(id, label, value, cls) {
    const c = el("div", {"class": "card " + (cls || ""), "data-kpi": id});
    c.appendChild(el("div", {"class": "label"}, label));
    const v = c.appendChild(el("div", {"class": "value", "data-kpi-value": id}, value));
    if (COLOR[cls]) v.style.color = COLOR[cls];  // a mode's card in its series' colour
    return c;
  }
  function legend(items) {
    const l = el("div", {"class": "legend"});
    for (const [name, color] of items) {
      const s = el("span");
      const i = el("i"); i.style.background = color;
      s.appendChild(i); s.appendChild(document.createTextNode(name)); l.appendChild(s);
    }
    return l;
  }
  // Cube rows: [value, rule 0/1, label 1/0/-1, bin 0..101, count]; bin 0: no model_score,
  // bin k+1: k/100 <= model_score < (k+1)/100, so "model_score >= k/100" is "bin > k" (the
  // sink's bins): "ML" and "hybrid" are thresholds.csv's ml_* and hybrid_* columns.
  const flagged = (r, k, mode) => r[3] > k || (mode === "hybrid" && r[1] === 1);
  function sumBy(dim, pred) {
    const out = new Map();
    for (const r of (D.cubes[dim] || [])) {
      if (!out.has(r[0])) out.set(r[0], 0);
      if (pred(r)) out.set(r[0], out.get(r[0]) + r[4]);
    }
    return out;
  }
  const total = (m) => Array.from(m.values()).reduce((a, b) => a + b, 0);

  // The top of a value axis of 4 steps: a round step (1, 2, 2.5, 5 ... x 10^n; whole for
  // counts), so no two ticks read the same (0, 2, 2, 4, 5, 7 for a top of 7).
  function axisTop(max, whole) {
    const raw = Math.max(max, 1e-9) / 4, e = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = [1, 2, 2.5, 3, 4, 5, 6, 8, 10].map((f) => f * e).find((x) => x >= raw * (1 - 1e-9));
    if (whole) step = Math.max(1, Math.ceil(step));
    return step * 4;
  }

  function bars(target, cats, series, fmt, maxV) {
    const W = 520, H = 260, L = 48, B = 70, T = 10;
    const s = svgEl("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img"});
    const top = maxV || axisTop(Math.max(1, ...series.flatMap((x) => x.values)), fmt === int);
    const bw = (W - L - 10) / Math.max(cats.length, 1);
    const w = (bw * 0.8) / series.length;
    s.appendChild(svgEl("line", {x1: L, y1: H - B, x2: W, y2: H - B, stroke: GREY}));
    for (let g = 0; g <= 4; g++) {
      const y = H - B - ((H - B - T) * g) / 4;
      s.appendChild(svgEl("text", {x: L - 4, y: y + 4, "text-anchor": "end"}, fmt((top * g) / 4)));
    }
    cats.forEach((c, i) => {
      series.forEach((se, j) => {
        const h = ((H - B - T) * (se.values[i] || 0)) / top;
        const x = L + i * bw + bw * 0.1 + j * w;
        const rect = svgEl("rect", {x, y: H - B - h, width: w - 2, height: h, fill: se.color,
          "data-series": se.name, "data-category": c, "data-value": se.values[i] || 0});
        rect.appendChild(svgEl("title", {}, `${c} ${se.name}: ${fmt(se.values[i] || 0)}`));
        s.appendChild(rect);
      });
      s.appendChild(svgEl("text", {x: L + i * bw + bw / 2, y: H - B + 14, "text-anchor": "end",
        transform: `rotate(-30 ${L + i * bw + bw / 2} ${H - B + 14})`}, c));
    });
    target.replaceChildren(s, legend(series.map((x) => [x.name, x.color])));
  }

  // cap: optional y-axis top; higher values are drawn at the top edge (axis clipped).
  function lines(target, xs, series, fmt, marks, xfmt, width, cap) {
    const W = width || 1040, H = 260, L = 56, B = 40, T = 10, R = 12;
    const s = svgEl("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img"});
    const top = axisTop(cap || Math.max(1, ...series.flatMap((x) => x.values.filter((v) => !isNaN(v)))), fmt === int);
    const X = (i) => L + ((W - L - R) * i) / Math.max(xs.length - 1, 1);
    const Y = (v) => H - B - ((H - B - T) * Math.min(v, top)) / top;
    s.appendChild(svgEl("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: GREY}));
    for (let g = 0; g <= 4; g++) {
      s.appendChild(svgEl("text", {x: L - 4, y: Y((top * g) / 4) + 4, "text-anchor": "end"}, fmt((top * g) / 4)));
    }
    // at most 11 labels, a round step apart (0.00, 0.10, ...; a week of days), not every 11th
    const step = [1, 2, 5, 7, 10, 14, 20, 25, 50, 100, 200, 500, 1000].find((n) => n >= (xs.length - 1) / 10) || Math.ceil(xs.length / 10);
    xs.forEach((x, i) => { if (i % step === 0) s.appendChild(svgEl("text", {x: X(i), y: H - B + 16, "text-anchor": "middle"}, xfmt(x))); });
    for (const m of (marks || [])) {
      const i = xs.indexOf(m.x);
      if (i < 0) continue;
      s.appendChild(svgEl("line", {x1: X(i), y1: T, x2: X(i), y2: H - B, stroke: m.color, "stroke-dasharray": m.dash || "4 3"}));
      s.appendChild(svgEl("text", {x: X(i) + 4, y: T + 10 + (m.dy || 0), fill: m.color}, m.label));
    }
    for (const se of series) {
      const pts = se.values.map((v, i) => `${X(i)},${Y(isNaN(v) ? 0 : v)}`).join(" ");
      s.appendChild(svgEl("polyline", {points: pts, fill: "none", stroke: se.color, "stroke-width": 2}));
    }
    target.replaceChildren(s, legend(series.map((x) => [x.name, x.color])));
  }

  function donut(target, parts) {
    const s = svgEl("svg", {viewBox: "0 0 520 260", width: "100%", role: "img"});
    const sum = parts.reduce((a, p) => a + p.value, 0);
    let a0 = -Math.PI / 2;
    const cx = 130, cy = 130, r = 100, ri = 58;
    for (const p of parts) {
      if (!p.value) continue;
      const a1 = a0 + (2 * Math.PI * p.value) / sum - (p.value === sum ? 1e-6 : 0);
      const big = a1 - a0 > Math.PI ? 1 : 0;
      const pt = (rad, a) => `${cx + rad * Math.cos(a)} ${cy + rad * Math.sin(a)}`;
      s.appendChild(svgEl("path", {fill: p.color,
        d: `M ${pt(r, a0)} A ${r} ${r} 0 ${big} 1 ${pt(r, a1)} L ${pt(ri, a1)} A ${ri} ${ri} 0 ${big} 0 ${pt(ri, a0)} Z`}));
      a0 = a1;
    }
    s.appendChild(svgEl("text", {x: cx, y: cy + 5, "text-anchor": "middle", style: "font-size:16px"}, int(sum)));
    parts.forEach((p, i) => {
      s.appendChild(svgEl("rect", {x: 270, y: 70 + i * 34, width: 14, height: 14, fill: p.color}));
      s.appendChild(svgEl("text", {x: 292, y: 82 + i * 34, "data-part": p.key, style: "font-size:13px"},
        `${p.name}: ${int(p.value)} (${sum ? pct(p.value / sum) : "n/a"})`));
    });
    target.replaceChildren(s);
  }

  // The cost at threshold 0 (review everything) dwarfs the interesting part: scale the axis
  // to thresholds >= 0.05 and let the first points run off the top.
  function costCap(ks) {
    const tail = ks.filter((x) => x >= 5).flatMap((x) =>
      ["ml", "hybrid", "combined"].map((m) => num(byK.get(x)[`${m}_expected_cost`]))).filter((v) => !isNaN(v));
    return tail.length ? Math.max(1, ...tail) * 1.1 : undefined;
  }

  function renderKpis(k) {
    const r = byK.get(k) || {};
    const f = (c) => num(r[c]);
    // a row per mode (ML, hybrid, and combined: `score >= t`, the mode the recommendation
    // is for by default, EXPORTS_RECOMMEND_FOR), as Power BI's KPI page
    const modeCards = (m) => [
      card(`${m}_precision`, named(`${m}_precision`), pct(f(`${m}_precision`)), m),
      card(`${m}_recall`, named(`${m}_recall`), pct(f(`${m}_recall`)), m),
      card(`${m}_workload_pct`, named(`${m}_workload_pct`), pctRaw(f(`${m}_workload_pct`)), m),
      card(`${m}_expected_cost`, named(`${m}_expected_cost`), money(f(`${m}_expected_cost`)), m)];
    document.getElementById("kpi-cards").replaceChildren(
      ...modeCards("ml"), ...modeCards("hybrid"), ...modeCards("combined"),
      card("recommended_threshold", `Recommended threshold (${RECMODE})`, rec ? num(rec.threshold).toFixed(2) : "n/a"));
    renderRecall(k);
    const ks = Array.from(byK.keys()).sort((a, b) => a - b);
    const marks = [{x: k, label: "selected " + (k / 100).toFixed(2), color: "#111827"}];
    if (recK !== null) marks.push({x: recK, label: "recommended " + (recK / 100).toFixed(2), color: COLOR.recommended, dash: "2 2", dy: 14});
    lines(document.getElementById("chart-cost"), ks,
      [{name: "ML expected cost", color: ML, values: ks.map((x) => num(byK.get(x).ml_expected_cost))},
       {name: "Hybrid expected cost", color: HY, values: ks.map((x) => num(byK.get(x).hybrid_expected_cost))},
       // the default recommendation's own mode (RECMODE): its mark stands at this line's lowest
       {name: "Combined expected cost", color: CO, values: ks.map((x) => num(byK.get(x).combined_expected_cost))}],
      int, marks, (x) => (x / 100).toFixed(2), 520, costCap(ks));
  }

  // Recall by anomaly type at the selected threshold, each mode Power BI's chart draws: ML,
  // rules and hybrid from the volume counts (a type's labelled anomalies flagged at k/100
  // over its labelled anomalies, thresholds.csv's binning), combined from metrics_by_type.csv,
  // whose figures are at the recommended threshold: the counts hold no combined score, so
  // combined is drawn there only, and the caption says so. Without counts (a page made
  // without them) every mode is metrics_by_type's, at the recommended threshold only.
  const RECALLS = [["ml", "ml_recall", "ML recall", ML], ["rules", "rules_recall", "Rules recall", RULE],
    ["hybrid", "recall", "Hybrid recall", HY], ["combined", "combined_recall", "Combined recall", CO]];
  function renderRecall(k) {
    const types = (D.metrics_by_type || []).filter((r) => r.section === "anomaly_type");
    const counted = Boolean((D.cubes || {}).anomaly_type);
    const labelled = counted ? sumBy("anomaly_type", (r) => r[2] === 1) : new Map();
    const series = [];
    for (const [mode, column, name, color] of RECALLS) {
      let values;
      if (counted && mode !== "combined") {
        const caught = sumBy("anomaly_type", (r) => r[2] === 1 && (mode === "rules" ? r[1] === 1 : flagged(r, k, mode)));
        values = types.map((r) => (labelled.get(r.name) ? caught.get(r.name) / labelled.get(r.name) : 0));
      } else if (k === recK) {
        values = types.map((r) => num(r[column]) || 0);
      } else continue;
      series.push({name, color, values});
    }
    bars(document.getElementById("chart-recall"), types.map((r) => r.name), series, pct, 1);
    const at = ` at ${(k / 100).toFixed(2)}`;
    const only = rec ? `the recommended threshold ${num(rec.threshold).toFixed(2)}` : "the recommended threshold";
    const left = RECALLS.filter(([, , name]) => !series.some((se) => se.name === name)).map(([, , name]) => name.replace(" recall", ""));
    const why = counted ? "the volume counts hold no combined score" : "this page has no volume counts";
    document.getElementById("recall-at").textContent = at + (left.length ? `; ${left.join(", ")}: drawn at ${only} only (${why})` : "");
  }

  function renderVolume(k) {
    const flaggedN = total(sumBy("anomaly_type", (r) => flagged(r, k, "hybrid")));
    const anomalies = total(sumBy("anomaly_type", (r) => r[2] === 1));
    // A label-based rate: over the rows with a known label, as thresholds.csv (unlabelled
    // rows in the denominator understated it; none labelled is n/a, not 0.0%).
    const labelledN = total(sumBy("anomaly_type", (r) => r[2] !== -1));
    const n = D.rows || 0;
    document.getElementById("volume-cards").replaceChildren(
      card("total_flagged", "Total flagged (hybrid)", int(flaggedN), "hybrid"),
      card("flag_rate", named("hybrid_workload_pct"), n ? pct(flaggedN / n) : "n/a", "hybrid"),
      card("total_anomalies", "Labelled anomalies", int(anomalies)),
      card("anomaly_rate", "Anomaly rate (labels)", labelledN ? pct(anomalies / labelledN) : "n/a"),
      card("rows", "Transactions", int(n)));
    const part = (pred) => total(sumBy("anomaly_type", pred));
    donut(document.getElementById("chart-breakdown"), [
      {key: "ml_only", name: "ML only", color: ML, value: part((r) => r[3] > k && r[1] === 0)},
      {key: "rules_only", name: "Rules only", color: RULE, value: part((r) => r[3] <= k && r[1] === 1)},
      {key: "overlap", name: "ML and rules", color: COLOR.overlap, value: part((r) => r[3] > k && r[1] === 1)}]);
    const ch = sumBy("channel", (r) => flagged(r, k, "hybrid"));
    const chMl = sumBy("channel", (r) => flagged(r, k, "ml"));
    const chans = Array.from(ch.keys()).sort();
    bars(document.getElementById("chart-channel"), chans,
      [{name: "ML flagged", color: ML, values: chans.map((c) => chMl.get(c))},
       {name: "Hybrid flagged", color: HY, values: chans.map((c) => ch.get(c))}], int);
    const day = sumBy("day", (r) => flagged(r, k, "hybrid"));
    const dayMl = sumBy("day", (r) => flagged(r, k, "ml"));
    const dayLab = sumBy("day", (r) => r[2] === 1);
    const span = dateSpan(Array.from(day.keys()));
    const days = span.days;
    // the year on every label once the range crosses one (01-01 of 1970 is not of 2025)
    const label = days.length && days[0].slice(0, 4) !== days[days.length - 1].slice(0, 4) ? (d) => d : (d) => d.slice(5);
    lines(document.getElementById("chart-daily"), days,
      [{name: "ML flagged", color: ML, values: days.map((d) => dayMl.get(d) || 0)},
       {name: "Hybrid flagged", color: HY, values: days.map((d) => day.get(d) || 0)},
       {name: "Labelled anomalies", color: COLOR.labels, values: days.map((d) => dayLab.get(d) || 0)}],
      int, [], label);
    const rowsOn = sumBy("day", () => true);
    const outside = span.outside.map((d) => `${d} (${int(rowsOn.get(d))})`);
    document.getElementById("date-range").replaceChildren(
      card("date_range", "Date range", days.length ? `${days[0]} to ${days[days.length - 1]}` : "no dates yet"),
      // without the day counts (no cubes) the page cannot tell: "n/a", never "none"
      card("outside_range", "Rows dated outside it", !D.cubes.day ? "n/a" : outside.length ? `${int(span.outside.reduce((a, d) => a + rowsOn.get(d), 0))}: ${outside.join(", ")}` : "none"));
  }

  // The daily chart's days: every day of run.json's date range (shared.date_range: the days
  // a quorum of customers reached, so one row dated 2100 adds no 75 years), days without rows
  // at 0; a day with rows outside the range is listed, never dropped.
  function dateSpan(seen) {
    const r = D.date_range;
    if (!r) return {days: seen.sort(), outside: []};
    const days = [];
    for (let t = Date.parse(r[0] + "T00:00:00Z"), end = Date.parse(r[1] + "T00:00:00Z"); t <= end; t += 86400000) days.push(new Date(t).toISOString().slice(0, 10));
    return {days, outside: seen.filter((d) => d < r[0] || d > r[1]).sort()};
  }

  const CASE_COLS = D.case_columns || [];  // dashboard.spec.CASE_TABLE, Power BI's too
  const NUMERIC = new Set(["rank", "transactions", "total_amount", "score"]);
  function setupCases() {
    const cases = D.cases || [];
    const head = document.querySelector("#cases-table thead tr");
    head.replaceChildren(...CASE_COLS.map((c) => el("th", {}, named(c))));
    for (const [id, col] of [["filter-type", "anomaly_type"], ["filter-channel", "channel"]]) {
      const sel = document.getElementById(id);
      // an empty cell (no labelled type) is no choice of its own: "all" has the empty value
      for (const v of Array.from(new Set(cases.map((c) => c[col]))).filter((v) => v).sort()) sel.appendChild(el("option", {value: v}, v));
      sel.addEventListener("change", renderCases);
    }
  }
  // a case's cell as read: times without the `T`, one reason or rule a line
  function caseCell(col, v) {
    if (v === undefined || v === null) return "";
    if (col.endsWith("_time")) return when(v);
    if (col === "reasons_top3") return String(v).split(" | ").join("\n");
    if (col === "triggered_rules") return String(v).split(";").join("\n");
    return String(v);
  }
  function renderCases() {
    const t = document.getElementById("filter-type").value;
    const c = document.getElementById("filter-channel").value;
    const shown = (D.cases || []).filter((r) => (!t || r.anomaly_type === t) && (!c || r.channel === c));
    document.querySelector("#cases-table tbody").replaceChildren(...shown.map((r) => {
      const tr = el("tr");
      for (const col of CASE_COLS) tr.appendChild(el("td", NUMERIC.has(col) ? {"class": "num"} : {"class": col}, caseCell(col, r[col])));
      return tr;
    }));
    document.getElementById("cases-count").textContent = `${shown.length} of ${(D.cases || []).length} cases`;
  }

  // Assurance: figures of assurance.csv (sink.assurance_table); text via textContent only.
  const AS = D.assurance || [];
  const asRow = (section, name) => AS.find((r) => r.section === section && r.name === name) || {};
  // no figure yet: said in words ("n/a [n/a, n/a]" explained nothing)
  const interval = (r, f) => (isNaN(num(r.precision)) ? "none reviewed yet" : `${f(num(r.precision))} [${f(num(r.precision_low))}, ${f(num(r.precision_high))}]`);
  const pct2 = (v) => (isNaN(v) ? "n/a" : (v * 100).toFixed(2) + "%");
  const RATES = new Set(["precision", "precision_low", "precision_high", "labelled_precision"]);
  function renderAssurance() {
    const hy = asRow("mode", "hybrid"), miss = asRow("miss_rate", "audit_sample"), rc = asRow("recall", "implied");
    const open = (D.cases || []).filter((c) => !c.outcome);
    const oldest = open.map((c) => c.first_time).sort()[0];
    const run = D.run || {};
    const perDay = num(run.recommended_cases_per_day);
    const cap = rows.length ? num(rows[0].daily_capacity) : NaN;
    document.getElementById("assurance-cards").replaceChildren(
      card("reviewed-precision", "Reviewed precision (hybrid)", interval(hy, pct)),
      card("miss-rate", "Miss rate (audit sample)", interval(miss, pct2)),
      card("implied-recall", "Implied recall", interval(rc, pct)),
      card("reviewed", "Reviewed cases", int(num(hy.reviewed))),
      card("backlog", "Review backlog", int(open.length)),
      card("oldest", "Oldest open case", oldest ? when(oldest) : "none"),
      card("per-day", "Cases per day at recommended", isNaN(perDay) ? "n/a" : perDay.toFixed(1) + (isNaN(cap) ? "" : ` of ${cap} capacity`)),
      card("labels", "Labels: precision / miss rate / recall", `${pct(num(hy.labelled_precision))} / ${pct2(num(miss.labelled_precision))} / ${pct(num(rc.labelled_precision))}`));
    const cols = D.assurance_columns || [];  // dashboard.spec.ASSURANCE_TABLE, Power BI's too
    document.querySelector("#assurance-table thead tr").replaceChildren(...cols.map((c) => el("th", {}, named(c))));
    document.querySelector("#assurance-table tbody").replaceChildren(...AS.filter((r) => r.section !== "threshold").map((r) => {
      const tr = el("tr");
      // the rates as percentages (assurance.csv keeps full doubles for Power BI)
      for (const c of cols) tr.appendChild(el("td", RATES.has(c) ? {"class": "num"} : {},
        r[c] === undefined || r[c] === "" ? "" : (RATES.has(c) ? pct2(num(r[c])) : String(r[c]))));
      return tr;
    }));
    const ks = rows.map((r) => Math.round(num(r.threshold) * 100));
    // the mode the recommendation is for, as the "Cases per day at recommended" card
    const series = [{name: `Expected cases per day (${RECMODE})`, color: COLOR.recommended, values: rows.map((r) => num(r[RECMODE + "_cases_per_day"]))}];
    if (!isNaN(cap)) series.push({name: "Daily capacity", color: COLOR.capacity, values: rows.map(() => cap)});
    lines(document.getElementById("chart-capacity"), ks, series, (v) => (isNaN(v) ? "n/a" : v.toFixed(1)), [], (k) => (k / 100).toFixed(2), 520);
    const ocols = ["case_id", "outcome", "reviewer", "reviewed_at", "note"];
    // By time, latest first: as text `09:00:00.5Z` sorts before `09:00:00Z`.
    const at = (c) => Date.parse(c.reviewed_at) || 0;
    const done = (D.cases || []).filter((c) => c.outcome).sort((a, b) => at(b) - at(a)).slice(0, 20);
    document.querySelector("#outcomes-table thead tr").replaceChildren(...ocols.map((c) => el("th", {}, named(c))));
    document.querySelector("#outcomes-table tbody").replaceChildren(...done.map((r) => {
      const tr = el("tr");
      for (const c of ocols) tr.appendChild(el("td", {}, String(r[c] || "")));
      return tr;
    }));
  }
  const labelled = rows.some((r) => r.combined_tp !== "" && r.combined_tp !== undefined);
  for (const p of document.querySelectorAll(".labels-note")) p.textContent = labelled ? "" : "no labels: see Assurance";

  // run.json's fields, each named and formatted as the cards show the same figure
  function runValue(k, v) {
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v !== "number") return when(v);
    if (/_(precision|recall)$/.test(k)) return pct(v);
    if (/_pct$/.test(k)) return pctRaw(v);
    if (/threshold$/.test(k)) return v.toFixed(2);
    if (/_per_day$/.test(k)) return v.toFixed(1);
    return Number.isInteger(v) ? int(v) : money(v);
  }
  function renderRun() {
    const dl = el("dl");
    for (const [k, v] of Object.entries(D.run || {})) {
      const item = el("div", {"data-run": k});
      item.appendChild(el("dt", {}, named(k)));
      item.appendChild(el("dd", {}, runValue(k, v)));
      dl.appendChild(item);
    }
    const foot = document.getElementById("run-info");
    foot.replaceChildren(el("h2", {}, "About this run (run.json)"), dl);
  }

  function state() {
    const p = new URLSearchParams(location.hash.slice(1));
    return {page: p.get("page") || "kpis", t: p.get("t")};
  }
  function show(page) {
    for (const s of document.querySelectorAll(".page")) s.classList.toggle("active", s.id === "page-" + page);
    for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.page === page);
    document.body.dataset.page = page;
  }
  function update() {
    const slider = document.getElementById("threshold");
    const k = Number(slider.value);
    document.getElementById("threshold-value").textContent = (k / 100).toFixed(2);
    renderKpis(k); renderVolume(k);
    const p = new URLSearchParams({page: document.body.dataset.page || "kpis", t: (k / 100).toFixed(2)});
    history.replaceState(null, "", "#" + p.toString());
  }
  const init = state();
  const slider = document.getElementById("threshold");
  const ks = Array.from(byK.keys());
  if (ks.length) { slider.min = String(Math.min(...ks)); slider.max = String(Math.max(...ks)); }
  const startK = init.t !== null && !isNaN(Number(init.t)) ? Math.round(Number(init.t) * 100) : (recK !== null ? recK : 50);
  slider.value = String(startK);
  if (rec) document.getElementById("recommended-note").textContent = "recommended " + num(rec.threshold).toFixed(2);
  show(init.page);
  slider.addEventListener("input", update);
  window.addEventListener("hashchange", () => {
    const st = state();
    if (st.t !== null && !isNaN(Number(st.t))) slider.value = String(Math.round(Number(st.t) * 100));
    show(st.page); update();
  });
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => { show(b.dataset.page); update(); });
  setupCases(); renderCases(); renderAssurance(); update();
  renderRun();
  // status.csv as judged when this page was made (shared.freshness): a static page claims no lag after it
  const st = D.status || {};
  document.getElementById("freshness").textContent = st.freshness ? `${st.freshness} (when this page was made${st.heartbeat_at ? `; last heartbeat ${st.heartbeat_at} UTC` : ""})` : "";
  // run.json's fields of scored messages the sink did not know (a newer detector's), as one line
  document.getElementById("skew").textContent = typeof D.skew === "string" && D.skew ? `Note: ${D.skew}` : "";
  document.body.dataset.ready = "true";
})();
