"""Layout previews of the Power BI pages (Desktop does not run on Linux).

Each page of the spec is drawn at its PBIR positions on a canvas of its size, with values that
pbix-mcp's DAX engine evaluates from the built `.pbix` (no slicer selection, so the
recommended threshold), then captured with headless Chromium. It is a wireframe for the
README, not a Power BI rendering: the banner on every image says so.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dashboard.measures import MEASURE_TABLE, MEASURES
from dashboard.series import series_color
from dashboard.spec import COLUMN_FORMATS, DATE_TABLE, PAGES, Field, Page, Visual, display_name

Evaluate = Callable[[list[str], str | None], dict[str, Any]]
_FMT = {m.name: m.fmt for m in MEASURES}
_TIME_PICTURE = "yyyy-mm-dd HH:nn"


def cell(value: Any, column: str = "") -> str:
    """A table or slicer cell as Power BI shows it: empty for a blank (pandas' `<NA>`,
    `nan`), the threshold grid as 0.00."""
    if value is None or (not isinstance(value, str) and bool(_isna(value))):
        return ""
    if COLUMN_FORMATS.get(column) == "0.00":
        return f"{float(value):.2f}"
    if COLUMN_FORMATS.get(column) == "0.00%":
        return f"{float(value) * 100:.2f}%"
    return str(value)


def _isna(value: Any) -> Any:
    import pandas as pd

    try:
        return pd.isna(value)
    except (TypeError, ValueError):
        return False


def fmt(name: str, value: Any) -> str:
    if value is None:
        return "(Blank)"
    kind = _FMT.get(name, "")
    if kind == _TIME_PICTURE:  # a time measure ("Oldest Open Case"): 2025-01-01 11:54
        return str(value).replace("T", " ")[:16]
    if isinstance(value, str):  # a text measure ("data as of ...")
        return value
    if kind.endswith("%"):
        return f"{float(value) * 100:.1f}%"
    if kind == "0.00":
        return f"{float(value):.2f}"
    return f"{float(value):,.2f}".rstrip("0").rstrip(".")


def _bars(cats: list[str], series: dict[str, list[float]], colors: list[str], w: int, h: int
          ) -> str:
    top = max([1e-9, *(v for vs in series.values() for v in vs)])
    bw = (w - 40) / max(len(cats), 1)
    base = h - 70  # room under the axis for the turned labels
    out = []
    for i, cat in enumerate(cats):
        for j, (_, vs) in enumerate(series.items()):
            bh = (base - 20) * vs[i] / top
            x = 30 + i * bw + j * bw * 0.8 / len(series) + bw * 0.1
            width = bw * 0.8 / len(series) - 2
            out.append(f'<rect x="{x:.1f}" y="{base - bh:.1f}" width="{width:.1f}"'
                       f' height="{bh:.1f}" fill="{colors[j]}"/>')
        x, y = 30 + (i + 0.5) * bw, base + 12  # whole, turned as Desktop turns long labels
        out.append(f'<text x="{x:.1f}" y="{y}" text-anchor="end" '
                   f'transform="rotate(-25 {x:.1f} {y})">{html.escape(cat)}</text>')
    return "".join(out)


def _lines(xs: list[str], series: dict[str, list[float | None]], colors: list[str], w: int,
           h: int) -> str:
    values = [v for vs in series.values() for v in vs if v is not None]
    top = max([1e-9, *values])
    step = (w - 50) / max(len(xs) - 1, 1)
    out = []
    for j, (_, vs) in enumerate(series.items()):
        pts = [(30 + i * step, h - 40 - (h - 60) * v / top)
               for i, v in enumerate(vs) if v is not None]
        if len(pts) > 1:
            out.append(f'<polyline fill="none" stroke="{colors[j]}" stroke-width="2" points="'
                       + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colors[j]}"/>'
                for x, y in pts if len(pts) == 1]
    for i in range(0, len(xs), max(1, len(xs) // 6)):
        out.append(f'<text x="{30 + i * step:.1f}" y="{h - 24}" text-anchor="middle">'
                   f"{html.escape(xs[i][:10])}</text>")
    return "".join(out)


def _donut(parts: list[float], names: list[str], colors: list[str], h: int) -> str:
    total, angle, out = sum(parts) or 1.0, -math.pi / 2, []
    cx, cy, r = h / 2 + 20, h / 2, h / 2 - 10
    for j, part in enumerate(parts):
        if not part:
            continue
        end = angle + 2 * math.pi * part / total - (1e-4 if part == total else 0)
        big = 1 if end - angle > math.pi else 0
        x0, y0, x1, y1 = (cx + r * math.cos(angle), cy + r * math.sin(angle),
                          cx + r * math.cos(end), cy + r * math.sin(end))
        out.append(f'<path d="M{cx},{cy} L{x0:.1f},{y0:.1f} A{r},{r} 0 {big} 1 '
                   f'{x1:.1f},{y1:.1f} Z" fill="{colors[j]}"/>')
        angle = end
    out.append(f'<circle cx="{cx}" cy="{cy}" r="{r * 0.55:.1f}" fill="#fff"/>')
    out += [f'<text x="{cx + r + 30:.1f}" y="{cy - 20 + 18 * j:.1f}">'
            f"{html.escape(n)}: {int(p)}</text>" for j, (n, p) in enumerate(zip(names, parts,
                                                                                  strict=True))]
    return "".join(out)


def _legend(names: list[str], colors: list[str]) -> str:
    return "".join(f'<span><i style="background:{c}"></i>{html.escape(n)}</span>'
                   for n, c in zip(names, colors, strict=True))


def _body(v: Visual, ev: Evaluate, tables: Callable[[str], Any]) -> str:
    _, _, w, h = v.box
    fields = [f for fs in v.roles.values() for f in fs]
    if v.type == "card":
        name = fields[0].name
        value = ev([name], None)[name]
        size = ' class="text"' if isinstance(value, str) else ""
        return (f'<div class="card"><b{size}>{html.escape(fmt(name, value))}</b>'
                f"<small>{html.escape(display_name(fields[0]))}</small></div>")
    if v.type == "slicer":
        f = fields[0]
        column = tables(f.table)[f.name]
        values = sorted({cell(x, f.name) or "(Blank)" for x in column},
                        key=lambda s: (float(s) if f.name in COLUMN_FORMATS else 0, s))
        if v.dropdown:  # a drop-down: the selection (none: All) and its arrow
            return '<div class="dropdown">All <span>&#9662;</span></div>'
        items = "".join(f"<li>&#9711; {html.escape(s)}</li>" for s in values[:24])
        wide = ' class="wide"' if max(map(len, values), default=0) > 12 else ""
        return f"<ul{wide}>{items}</ul>"
    if v.type == "tableEx":
        frame = tables(fields[0].table)
        for f in fields:  # a measure that is blank for a row hides it, as in Power BI
            if f.kind == "measure":
                frame = frame[_ROW_MEASURES[f.name](frame, tables)].assign(**{f.name: 1})
        frame = frame.head(16).copy()
        for column in frame.select_dtypes("datetime"):  # stored as double days: round to 1 s
            frame[column] = frame[column].dt.round("s")
        head = "".join(f"<th>{html.escape(display_name(f))}</th>" for f in fields)
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell(r[f.name], f.name)[:60])}</td>"
                             for f in fields)
            + "</tr>" for _, r in frame.iterrows())
        if v.widths:  # the PBIR's column widths, headers and cells wrapped
            cols = "".join(f'<col style="width:{w}px">' for w in v.widths)
            return f'<table class="fixed"><colgroup>{cols}</colgroup><tr>{head}</tr>{rows}</table>'
        return f"<table><tr>{head}</tr>{rows}</table>"
    measures = [f for f in v.roles.get("Y", ()) if f.kind == "measure"]
    if "Category" not in v.roles:  # the donut: one slice per measure
        got = ev([f.name for f in measures], None)
        parts = [float(got[f.name] or 0) for f in measures]
        names = [display_name(f) for f in measures]
        colors = [series_color(f.name) for f in measures]
        return _svg(w, h, _donut(parts, names, colors, h - 30), names, colors)
    cat = v.roles["Category"][0]
    return _category_chart(v, cat, ev, tables)


#: The table measures that list only some rows (1 for those, blank for the rest), as the
#: rows they keep: the preview draws a table from a few rows, not a DAX query per row.
_ROW_MEASURES: dict[str, Callable[[Any, Callable[[str], Any]], Any]] = {
    "Outside Date Range Row": lambda frame, tables: ~frame["date"].isin(
        tables(DATE_TABLE)["date"]),
}


def _svg(w: int, h: int, inner: str, legend: list[str], colors: list[str]) -> str:
    return (f'<svg width="{w - 14}" height="{h - 56}" viewBox="0 0 {w} {h - 30}">'
            f'{inner}</svg><div class="legend">{_legend(legend, colors)}</div>')


def _category_chart(v: Visual, cat: Field, ev: Evaluate, tables: Callable[[str], Any]) -> str:
    _, _, w, h = v.box
    frame = tables(cat.table)
    keys = sorted(set(frame[cat.name].dropna()))
    cats = [cell(c, cat.name)[:10] if cat.name == "date" else cell(c, cat.name) for c in keys]
    series: dict[str, list[float | None]] = {}
    for f in v.roles["Y"]:
        if f.kind == "sum":  # a blank column sums to blank, not 0 (no capacity: no line)
            sums = frame.groupby(frame[cat.name])[f.name].sum(min_count=1)
            got = [sums.get(c) for c in keys]
        else:
            key = f"{cat.table}.{cat.name}"
            got = [ev([f.name], json.dumps({key: [_typed(c)]}))[f.name] for c in keys]
        series[display_name(f)] = [None if cell(x) == "" else float(x) for x in got]
    colors = [series_color(f.name) for f in v.roles["Y"]]  # by name, as the PBIR visual
    if v.type == "lineChart":
        return _svg(w, h, _lines(cats, series, colors, w, h - 30), list(series), colors)
    # Power BI leaves out a category whose every value is blank (recall of "normal" rows)
    shown = [i for i in range(len(cats)) if any(vs[i] is not None for vs in series.values())]
    bars = {k: [vs[i] or 0.0 for i in shown] for k, vs in series.items()}
    return _svg(w, h, _bars([cats[i] for i in shown], bars, colors, w, h - 30), list(series),
                colors)


def _typed(value: Any) -> Any:
    """A pandas cell as a JSON filter value."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def drilled(tables: Callable[[str], Any]) -> Callable[[str], Any]:
    """The tables as the drill-through page sees them from the top case (rank 1): that case,
    and only its transactions (cases -> case_transactions -> transactions_scored). Without
    it the page listed every case and the first transactions of the data, none of them the
    case's."""
    def table(name: str) -> Any:
        frame = tables(name)
        cases = tables("cases")
        if cases.empty or name not in ("cases", MEASURE_TABLE):
            return frame
        top = str(cases.sort_values("rank")["case_id"].iloc[0])
        if name == "cases":
            return frame[frame["case_id"].astype(str) == top]
        links = tables("case_transactions")
        ids = set(links[links["case_id"].astype(str) == top]["transaction_id"].astype(str))
        return frame[frame["transaction_id"].astype(str).isin(ids)]
    return table


def page_html(page: Page, ev: Evaluate, tables: Callable[[str], Any]) -> str:
    if page.drillthrough is not None:
        tables = drilled(tables)
    boxes = []
    for v in page.visuals:
        x, y, w, h = v.box
        title = f"<h3>{html.escape(v.title)}</h3>" if v.title and v.type != "card" else ""
        boxes.append(f'<section style="left:{x}px;top:{y + 30}px;width:{w}px;height:{h}px">'
                     f"{title}{_body(v, ev, tables)}</section>")
    return _PAGE.format(css=_CSS, title=html.escape(page.display_name), banner=_BANNER,
                        boxes="".join(boxes), height=page.height + 30)


_CSS = """
body{margin:0;width:1280px;background:#eaeaea;position:relative;
 font:12px 'Segoe UI','DejaVu Sans',sans-serif}
header{height:26px;background:#f2c811;padding:4px 10px;font-weight:600}
section{position:absolute;background:#fff;box-sizing:border-box;padding:6px;overflow:hidden;
 border:1px solid #ddd}
h3{margin:0 0 4px;font-size:13px}
.card{display:flex;flex-direction:column;align-items:center;justify-content:center;height:100%}
.card b{font-size:30px;font-weight:400} .card small{color:#666;margin-top:4px}
.card b.text{font-size:14px;text-align:center}
ul{list-style:none;margin:0;padding:0;columns:2} li{padding:1px 0} ul.wide{columns:1}
table{border-collapse:collapse;width:100%} table.fixed{table-layout:fixed;width:auto}
.dropdown{border:1px solid #999;padding:4px 8px;display:flex;justify-content:space-between}
th,td{border-bottom:1px solid #eee;padding:2px 4px;text-align:left;font-size:11px}
svg text{font-size:10px;fill:#555} .legend span{margin-right:10px}
.legend i{display:inline-block;width:9px;height:9px;margin-right:3px}
"""
_BANNER = ("layout preview: PBIR positions, values from pbix-mcp's DAX engine on the sample "
           "snapshot (recommended threshold); not a Power BI Desktop rendering")
_PAGE = ('<!DOCTYPE html><html><head><meta charset="utf-8"><style>{css}</style></head>'
         '<body style="height:{height}px">'
         "<header>{title} &mdash; {banner}</header>{boxes}"
         "<script>document.body.dataset.ready='true'</script></body></html>")


def write_previews(pbix: Path, out_dir: Path) -> list[Path]:
    """PNG of each page into `out_dir` (`powerbi-<page>.png`); needs chromium."""
    import tempfile

    from pbix_mcp import server  # type: ignore[import-untyped]
    from pbixray import PBIXRay  # type: ignore[import-untyped]

    from dashboard.browser import Chromium

    reader = PBIXRay(str(pbix))
    cache: dict[str, Any] = {}

    def tables(name: str) -> Any:
        if name not in cache:
            cache[name] = reader.get_table(name)
        return cache[name]

    alias = "auditstream-preview"
    server.pbix_open(str(pbix), alias=alias)

    def ev(names: list[str], ctx: str | None) -> dict[str, Any]:
        reply = json.loads(server.pbix_evaluate_dax(
            alias, ",".join(names), filter_context=ctx or "", apply_default_filters=False))
        return {r["name"]: r.get("value") for r in reply["results"]}

    written = []
    try:
        with tempfile.TemporaryDirectory() as tmp, Chromium(width=1280, height=750) as browser:
            for page in PAGES:
                doc = Path(tmp) / f"{page.name}.html"
                doc.write_text(page_html(page, ev, tables), encoding="utf-8")
                browser.open(doc.as_uri())
                written.append(browser.screenshot(out_dir / f"powerbi-{page.name}.png",
                                                  full_page=page.height > 720))
    finally:
        server.pbix_close(alias, force=True)
    return written
