"""A SOURCE_DATE_EPOCH that is not whole seconds ends `auditstream` with one line and exit 2.

numpy.f2py, which scipy imports under scikit-learn, parses the variable when it is imported
and died with a traceback on anything but an integer (blank included) before the build's own
check (`shared.source_date.source_date_epoch`) could run: every command was affected.
Each run here is a real process, since the crash happened at import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import ExitCode
from shared.source_date import BuildEpochError, source_date_epoch

ROOT = Path(__file__).resolve().parents[2]
LAST = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime holds


def _auditstream(value: str, *args: str, module: str = "auditstream"
                 ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOURCE_DATE_EPOCH": value,
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get(
               "PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-m", module, *args], env=env,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.parametrize("value", [
    "1.5", "abc", "1e9", "-1", "nan", "+5", "1_000", str(10**30), "9" * 5000,
    "²", "٣",  # a superscript (isdigit, not int) and an Arabic-Indic digit (int, not ASCII)
    str(LAST + 1),  # one second past what the build's timestamps hold
])
def test_dashboard_build_refuses_it_in_one_line_with_exit_2_and_writes_nothing(
    tmp_path: Path, value: str
) -> None:
    out = tmp_path / "out"
    done = _auditstream(value, "dashboard", "build", "--out", str(out))
    assert done.returncode == ExitCode.USAGE and int(ExitCode.USAGE) == 2, done.stderr
    assert "Traceback" not in done.stderr
    shown = repr(value) if len(value) < 100 else "'999"
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(  # README, "Exit codes": `auditstream COMMAND: error: ...`
        "auditstream dashboard: error: SOURCE_DATE_EPOCH must be whole seconds since 1970")
    assert shown in done.stderr and done.stdout == ""
    assert not out.exists()


@pytest.mark.parametrize("core", ["", "kernel"])
@pytest.mark.parametrize("value", ["1.5", "²", "-1"])
def test_the_detector_refuses_it_in_one_line_with_exit_2(
        value: str, core: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m detector` imports scikit-learn too, so it checks the variable first; on
    the kernel as well (its package imported the kernel, and scikit-learn with it, before
    the check: a traceback)."""
    monkeypatch.setenv("AUDITSTREAM_CORE", core)
    done = _auditstream(value, module="detector")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.strip() == done.stderr.strip().splitlines()[0]
    assert "python -m detector: error: SOURCE_DATE_EPOCH must be whole seconds" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("value", ["", " ", "1700000000", " 1700000000 ", str(LAST), "0"])
def test_a_blank_or_whole_value_lets_every_command_start(value: str) -> None:
    done = _auditstream(value, "--version")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("auditstream ")


def test_the_last_second_is_accepted_one_past_it_refused(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(LAST))
    assert source_date_epoch() == LAST
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(LAST + 1))
    with pytest.raises(BuildEpochError):
        source_date_epoch()


@given(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=14))
def test_any_value_is_refused_or_means_what_numpy_reads(raw: str) -> None:
    """The rule never fails otherwise than with `BuildEpochError`; what it accepts, numpy
    (`int(value)`, then `time.gmtime`) reads as the same second, so its import cannot fail."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", raw)
        try:
            epoch = source_date_epoch()
        except BuildEpochError as exc:
            assert exc.exit_code == ExitCode.USAGE and repr(raw.strip())[:50] in str(exc)
            return
    if epoch is None:
        assert raw.strip() == ""
    else:
        assert int(raw) == epoch and time.gmtime(epoch).tm_year <= 9999


@pytest.mark.parametrize("value", ["1.5", "-1", str(LAST + 1)])
def test_build_called_directly_refuses_it_before_writing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """`dashboard.build.build` (not only the CLI) checks the epoch before the PBIP folder."""
    from dashboard.build import build

    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    out = tmp_path / "out"
    with pytest.raises(BuildEpochError):
        build(out)
    assert not out.exists()


def test_build_refuses_a_snapshot_without_a_time_before_writing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The epoch's other source, run.json's `event_time_max`, is read once, up front, too:
    a malformed one used to be found only after the PBIP folder was written."""
    from dashboard.build import build

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "run.json").write_text('{"event_time_max": "soon"}', encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(BuildEpochError, match="event_time_max 'soon'"):
        build(out, exports)
    assert not out.exists()
