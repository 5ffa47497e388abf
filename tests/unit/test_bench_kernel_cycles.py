"""bench/kernel_cycles.py instruments a copy of the kernel by text at fixed anchors: each
anchor is found once in today's sources, and the copy is valid Python with every section's
mark in it, while the tree itself is left as it was."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import kernel_cycles

ROOT = Path(__file__).resolve().parents[2]


def test_the_copy_is_marked_at_every_section(tmp_path: Path) -> None:
    before = {p.name: p.read_bytes() for p in (ROOT / "detector/kernel").glob("*.py")}
    kernel_cycles.instrument(ROOT, tmp_path)
    kernel = tmp_path / "detector" / "kernel"
    marks = 0
    for module in kernel_cycles.PLAN:
        text = (kernel / module).read_text()
        ast.parse(text)
        assert "from detector.kernel.cycles import tick\n" in text, module
        marks += text.count("_c_ = tick()")
    ast.parse((kernel / "cycles.py").read_text())
    # one mark per section; novelty's five attributes share one mark in their loop
    assert marks == len(kernel_cycles.SECTIONS) - 4
    assert {p.name: p.read_bytes() for p in (ROOT / "detector/kernel").glob("*.py")} == before
