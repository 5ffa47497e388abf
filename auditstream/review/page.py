"""The review page's HTML (pure): a queue of open cases, a form with a button per outcome.

Every value from the exports (customer ids, reasons, rules: text an attacker can shape) is
escaped with `html.escape(..., quote=True)`; the page carries no script at all, and the
server's Content-Security-Policy forbids any, so an injected tag can neither render nor run.
"""

from __future__ import annotations

import base64
import csv
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from auditstream.review.records import ID_COLUMNS
from shared.csv_encoding import unmatched_header
from shared.csv_lines import BoundedLines, LineTooLong
from shared.exports_folder import CASES_FILE
from shared.names import shown
from shared.outputs import open_text
from shared.reviews import OUTCOMES, review_key
from shared.schemas import unguarded

#: Shown per case when the column exists: (heading, column).
SHOWN: tuple[tuple[str, str], ...] = (
    ("rank", "rank"), ("customer", "customer_id"), ("first", "first_time"),
    ("last", "last_time"), ("time", "timestamp"), ("transactions", "transactions"),
    ("total", "total_amount"), ("amount", "amount"), ("score", "score"),
    ("rules", "triggered_rules"),
)
REASON_SEP = " | "

CSS = """body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4em;
text-align:left;vertical-align:top}ul{margin:0;padding-left:1.1em}
button{margin-right:.3em}.confirmed{background:#fde2e2}.dismissed{background:#e2f5e2}
.msg{padding:.5em;background:#eef}.lapse{padding:.5em;background:#fde2e2;font-weight:bold}"""
#: The page's one style block, allowed by hash in the Content-Security-Policy (no
#: 'unsafe-inline': an injected <style> or style= attribute would not apply).
CSS_HASH = "sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()


@dataclass(frozen=True)
class Case:
    target: str
    id: str
    cells: dict[str, str]

    @property
    def key(self) -> str:
        return review_key(self.target, self.id)


def read_cases(path: Path) -> list[Case]:
    """The cases of a cases.csv (`case_id`; an older file without it: `transaction_id`);
    none when there is none yet, `not_regular` (exit 2) when it is no regular file,
    ValueError when its header names neither id column (Excel's `;`-separated save: it was
    read as no cases) or a line is longer than `shared.csv_lines.MAX_LINE_CHARS`."""
    try:
        fh = open_text(path, "utf-8-sig", newline="")
    except FileNotFoundError:
        return []
    with fh:
        # its lines bounded as `review import` reads it (cases.csv has no size bound: a 1 GB
        # line, or a file without a line end, was read whole at every request)
        reader = csv.DictReader(BoundedLines(fh))
        try:
            fields = reader.fieldnames
            if fields is None:  # an empty file
                return []
            ids = [c for c, _ in ID_COLUMNS]
            if (hint := unmatched_header(fields, ids)) is not None:
                raise ValueError(f"cannot read {shown(path)}: its header names no "
                                 f"{' or '.join(ids)} column (not the exports' cases.csv)"
                                 + hint)
            column, target = next((c, t) for c, t in ID_COLUMNS if c in fields)
            return [Case(target, unguarded(row[column] or ""),
                         {k: v or "" for k, v in row.items() if k is not None})
                    for row in reader if row.get(column)]
        except LineTooLong as exc:
            raise ValueError(f"cannot read {shown(path)}: {exc} (not the exports' "
                             "cases.csv)") from None


def e(text: object) -> str:
    return escape(str(text), quote=True)


def _pct(v: object) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, int | float) else "n/a"


def _triple(v: object) -> str:
    if not isinstance(v, Mapping):
        return "n/a"
    return f"{_pct(v.get('estimate'))} [{_pct(v.get('low'))}, {_pct(v.get('high'))}]"


def render_assurance(run: Mapping[str, object]) -> str:
    """What the sink made of the reviews at its last refresh (run.json's `assurance`)."""
    a = run.get("assurance")
    if not isinstance(a, Mapping):
        return '<p id="assurance">The sink has not counted any review yet.</p>'
    return (f'<p id="assurance">Sink refresh of <span id="as-of">{e(run.get("written_at"))}'
            f'</span>: <span id="reviewed-cases">{e(a.get("reviewed_cases", 0))}</span> '
            f'cases reviewed, reviewed precision <span id="reviewed-precision">'
            f'{e(_triple(a.get("reviewed_precision")))}</span>, implied recall '
            f'<span id="implied-recall">{e(_triple(a.get("implied_recall")))}</span> '
            "(95% intervals).</p>")


def render(cases: Sequence[Case], outcomes: Mapping[str, str], *, token: str, reviewer: str,
           exports: Path, show_all: bool = False, message: str = "",
           run: Mapping[str, object] | None = None, lapse: str = "",
           heard: str = "") -> str:
    """The whole page: open cases (all cases with `show_all`), most suspicious first;
    `lapse`, when the reviews shown are not current, says so above them, and `heard` when
    they were last read with Kafka answering."""
    rows = [c for c in cases if show_all or not _outcome(c, outcomes)]
    open_n = sum(1 for c in cases if not _outcome(c, outcomes))
    heads = [h for h, col in SHOWN if any(col in c.cells for c in cases[:1])]
    body = "\n".join(_row(c, outcomes, token) for c in rows)
    toggle = ('<a href="/">open cases only</a>' if show_all
              else '<a href="/?all=1">all cases</a>')
    msg = f'<p class="msg" id="message">{e(message)}</p>' if message else ""
    lapsed = f'<p class="lapse" id="lapse">{e(lapse)}</p>' if lapse else ""
    said = f'<p id="heard">{e(heard)}</p>\n' if heard else ""
    empty = "" if rows else '<p id="empty">No open cases.</p>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>auditstream review</title>
<style>{CSS}</style></head>
<body data-ready="1" data-open="{open_n}" data-current="{0 if lapse else 1}">
<h1>Review queue</h1>
{lapsed}<p><span id="open-count">{open_n}</span> open of {len(cases)} cases in
<code>{e(exports / CASES_FILE)}</code>; reviewing as <b id="reviewer">{e(reviewer)}</b>.
{toggle}</p>
{said}{render_assurance(run or {})}
{msg}{empty}
<table id="queue"><thead><tr><th>case</th>{"".join(f"<th>{e(h)}</th>" for h in heads)}
<th>reasons</th><th>outcome</th></tr></thead>
<tbody>
{body}
</tbody></table>
</body></html>
"""


def _outcome(case: Case, outcomes: Mapping[str, str]) -> str:
    return outcomes.get(case.key) or case.cells.get("outcome", "")


def _row(case: Case, outcomes: Mapping[str, str], token: str) -> str:
    cells = "".join(f"<td>{e(case.cells[col])}</td>" for _, col in SHOWN if col in case.cells)
    reasons = [r for r in case.cells.get("reasons_top3", "").split(REASON_SEP) if r]
    items = "".join(f"<li>{e(r)}</li>" for r in reasons)
    current = _outcome(case, outcomes)
    buttons = "".join(
        f'<button type="submit" name="outcome" value="{o}" data-outcome="{o}">{o}</button>'
        for o in OUTCOMES)
    state = f'<span class="current">{e(current)}</span> ' if current else ""
    return f"""<tr class="{e(current)}" data-id="{e(case.id)}"><td>{e(case.id)}</td>{cells}
<td><ul class="reasons">{items}</ul></td><td>{state}<form method="post" action="/review">
<input type="hidden" name="token" value="{e(token)}">
<input type="hidden" name="target" value="{e(case.target)}">
<input type="hidden" name="id" value="{e(case.id)}">
<input name="note" maxlength="2000" placeholder="note (optional)" aria-label="note">
{buttons}</form></td></tr>"""


def render_error(status: int, text: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{status}'
            f'</title></head><body data-ready="1"><h1>{status}</h1><p id="error">{e(text)}'
            '</p><p><a href="/">back to the queue</a></p></body></html>')
