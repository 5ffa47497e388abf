"""The README's and the docs' links lead somewhere: every relative link names a file of the
repository, every `#anchor` a heading of its page, and every `docs/<name>.md` named in the
text exists (a walk through the docs found the README's layout table naming three pages
fewer than docs/ holds)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces
    made `-`."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"#{1,6}\s+(.*)", line)
        if m:
            a = anchor(m.group(1))
            n = seen.get(a, 0)
            seen[a] = n + 1
            found.add(a if n == 0 else f"{a}-{n}")
    return found


def test_the_anchor_of_a_heading_is_githubs() -> None:
    assert anchor("Exit codes") == "exit-codes"
    assert anchor("The offline report (`report.html`)") == "the-offline-report-reporthtml"
    assert anchor("Issue 14: latency, 2026-12-04 15:30-15:53 UTC") == (
        "issue-14-latency-2026-12-04-1530-1553-utc")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_link_leads_to_a_file_and_heading(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = []
    for m in LINK.finditer(text):
        target = m.group(1)
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(f"{target}: no such heading")
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_docs_page_named_exists(page: Path) -> None:
    named = set(re.findall(r"docs/([\w-]+\.md)", page.read_text(encoding="utf-8")))
    assert {n for n in named if not (ROOT / "docs" / n).exists()} == set()


def test_the_readme_layout_names_every_docs_page() -> None:
    row = next(line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
               if line.startswith("| `docs/` |"))
    assert {p.name for p in PAGES[1:]} - set(re.findall(r"`([\w-]+\.md)`", row)) == set()


def test_the_readme_layout_is_one_table() -> None:
    """Every row of the layout table is in the table: a paragraph between rows made the rest
    plain text."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    table = section.strip().split("\n\n", 1)[0].splitlines()
    assert rows == table


def test_every_image_is_shown_or_named_and_every_named_image_exists() -> None:
    """The README lists the Power BI previews `dashboard screenshots` draws: one page's
    (`powerbi-outside.png`) was drawn and committed but named nowhere in the README."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"docs/img/([\w-]+\.png)", readme))
    assert named == {p.name for p in (ROOT / "docs" / "img").glob("*.png")}


#: Pages that record what was measured or tried on a date, naming the files of that date
#: (a script since replaced, a module since split): not a reader's map of today's code.
HISTORIES = {"benchmarks.md", "mutation.md", "reliability.md"}
REPO_PATH = re.compile(
    r"(?<![\w/.-])((?:auditstream|shared|producer|detector|sink|dashboard|tests|bench|docker|docs)"
    r"/[\w./-]*\.(?:py|md|json|sh|yml|csv|toml|txt|png|html))(?![\w/-])")


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in HISTORIES],
                         ids=[p.name for p in PAGES if p.name not in HISTORIES])
def test_every_repository_file_named_exists(page: Path) -> None:
    """docs/producer.md sent a reader to `detector/core/evidence.py` for the reasons' 40
    characters, a module gone since the detection's rewrite (now `detector/core/rules.py`)."""
    named = set(REPO_PATH.findall(page.read_text(encoding="utf-8")))
    assert sorted(n for n in named if not (ROOT / n).exists()) == []
