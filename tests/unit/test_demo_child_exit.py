"""`demo` whose sink or detector exits: the demo exits with the child's code when the README
gives `demo` that code (4, 5), and says so when the child's log is empty.

Before (hostile probe, 2026-12-07, session 20): `demo` run in a folder on a full disk
ended `error: sink exited with code 5; see run/demo-.../sink.log`, exit 2 ("bad usage"),
where the README gives `demo` exit 5 for output that cannot be written, and the log it
pointed to was empty: the sink's error line had nowhere to go on that disk.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auditstream.demo import Demo
from shared.errors import AuditstreamError


def _demo(tmp_path: Path, name: str, code: int, said: str) -> Demo:
    demo = Demo.__new__(Demo)
    demo.logs = tmp_path / "run"
    demo.logs.mkdir()
    (demo.logs / f"{name}.log").write_text(said, encoding="utf-8")
    child = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])
    child.wait()
    demo.children = {name: child}
    return demo


@pytest.mark.parametrize("code", [4, 5])
def test_a_documented_code_of_a_child_is_the_demo_s(tmp_path: Path, code: int) -> None:
    demo = _demo(tmp_path, "sink", code, "python -m sink: error: ...\n")
    with pytest.raises(AuditstreamError) as caught:
        demo._check_children()
    assert caught.value.exit_code == code
    assert str(caught.value) == (
        f"sink exited with code {code}; see {tmp_path / 'run' / 'sink.log'}")


@pytest.mark.parametrize("code", [1, 2, 3, 6, 7, 70, 99])
def test_another_code_is_exit_2_as_before(tmp_path: Path, code: int) -> None:
    """Codes the README's table does not give `demo` (3, 6, 7) keep the demo's 2."""
    demo = _demo(tmp_path, "detector", code, "python -m detector: error: ...\n")
    with pytest.raises(AuditstreamError) as caught:
        demo._check_children()
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(f"detector exited with code {code}; see ")


def test_an_empty_log_is_said_so(tmp_path: Path) -> None:
    demo = _demo(tmp_path, "sink", 5, "")
    with pytest.raises(AuditstreamError) as caught:
        demo._check_children()
    assert caught.value.exit_code == 5
    assert str(caught.value) == (
        f"sink exited with code 5; its log {tmp_path / 'run' / 'sink.log'} is empty (on a "
        "full disk its error line had nowhere to go)")
