"""A console that cannot show a character never fails a command (`shared.entry`).

Before: `PYTHONIOENCODING=ascii` (or latin-1, a Windows-1252 or ISO-8859 locale) made
`score données.csv --out sortie_İ` write every export, then raise UnicodeEncodeError on its
summary line: a traceback and exit 70, "a bug", for a run that had done all its work.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.entry import CONSOLE_ERRORS, ReportStream, tolerant_console

ROOT = Path(__file__).resolve().parents[2]
ROWS = ("transaction_id,customer_id,timestamp,amount,country,channel,device,"
        "merchant_category,ip,is_anomaly,anomaly_type\n"
        "1,c1,2025-01-01 10:00:00,12.5,CH,app,mobile,café,,False,normal\n"
        "2,c2,2025-01-01T11:00:00+05:30,40,CH,web,pc,grocery,,False,normal\n")
CONSOLES = ("ascii", "latin-1", "cp1252", "iso8859-9")


def _console(encoding: str, errors: str = "strict") -> tuple[io.TextIOWrapper, io.BytesIO]:
    raw = io.BytesIO()
    return io.TextIOWrapper(raw, encoding=encoding, errors=errors, write_through=True), raw


@pytest.mark.parametrize(("encoding", "name"), [("ascii", b"donn\\xe9es"),
                                              ("latin-1", b"donn\xe9es")])
def test_score_summary_on_a_console_without_the_names_characters(
    tmp_path: Path, encoding: str, name: bytes,
) -> None:
    source = tmp_path / "données.csv"
    source.write_text(ROWS + "3,c3,not a time,1,CH,app,pc,x,,False,normal\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": encoding,
           "AUDITSTREAM_CORE": "python"}  # the same outputs; no kernel to load
    done = subprocess.run(
        [sys.executable, "-m", "auditstream", "score", source.name, "--out", "sortie_İ"],
        cwd=tmp_path, env=env, capture_output=True, timeout=60, check=False)
    # 1: one row rejected, the rest scored (70 before: the summary's UnicodeEncodeError)
    assert (done.returncode, done.stderr.count(b"Traceback")) == (1, 0), done.stderr[-600:]
    assert done.stdout.startswith(b"score: 2 rows scored (0 flagged), 1 rejected -> " + name)
    assert b"exports in sortie_\\u0130 (" in done.stdout
    assert (tmp_path / "sortie_İ" / "run.json").exists()


def test_a_name_s_undecodable_bytes_go_back_as_read_other_characters_as_escapes() -> None:
    console, raw = _console("ascii", CONSOLE_ERRORS)
    # "\udcc3\udca9": the UTF-8 bytes of é as Python decodes them under an ASCII locale
    console.write("donn\udcc3\udca9es.csv, customer Жанна, café\n")
    assert raw.getvalue() == (b"donn\xc3\xa9es.csv, customer "
                              b"\\u0416\\u0430\\u043d\\u043d\\u0430, caf\\xe9\n")


@pytest.mark.parametrize("errors", ["strict", "surrogateescape", "backslashreplace"])
def test_tolerant_console_takes_over_each_standard_stream(
    monkeypatch: pytest.MonkeyPatch, errors: str,
) -> None:
    out, out_raw = _console("ascii", errors)
    err, err_raw = _console("ascii", errors)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    tolerant_console()
    print("données \udcc3", flush=True)
    print("İ", file=sys.stderr, flush=True)
    assert (out_raw.getvalue(), err_raw.getvalue()) == (b"donn\\xe9es \xc3\n", b"\\u0130\n")


def test_a_console_that_chose_its_own_handler_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, _ = _console("ascii", "replace")
    monkeypatch.setattr(sys, "stdout", out)
    tolerant_console()
    assert sys.stdout.errors == "replace"


@given(st.text(st.characters(exclude_categories=())), st.sampled_from(CONSOLES))  # surrogates too
def test_any_text_is_written_and_what_the_console_can_show_is_unchanged(
    text: str, encoding: str,
) -> None:
    console, raw = _console(encoding, CONSOLE_ERRORS)
    console.write(text)
    try:
        exact = text.encode(encoding)
    except UnicodeEncodeError:
        return
    assert raw.getvalue() == exact


def _score_to(tmp_path: Path, stdout: int) -> subprocess.CompletedProcess[bytes]:
    (tmp_path / "in.csv").write_text(ROWS, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDITSTREAM_CORE": "python"}
    return subprocess.run(
        [sys.executable, "-m", "auditstream", "score", "in.csv", "--out", "e"], cwd=tmp_path,
        env=env, stdout=stdout, stderr=subprocess.PIPE, timeout=60, check=False)


def test_a_stdout_whose_reader_is_gone_loses_the_summary_not_the_run(tmp_path: Path) -> None:
    """`score ... | head -0`: before, a BrokenPipeError traceback and exit 70 (a bug) after
    every export was written."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the summary is written
    try:
        done = _score_to(tmp_path, write)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr.count(b"Traceback")) == (0, 0), done.stderr[-600:]
    assert b"score: warning: stdout cannot be written (Broken pipe)" in done.stderr
    assert (tmp_path / "e" / "run.json").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_a_full_stdout_is_not_called_a_full_exports_disk(tmp_path: Path) -> None:
    """`score ... > /dev/full`: before, exit 5 "cannot write e: the disk is full" about an
    exports folder that was whole (the summary is printed inside the exports' guard)."""
    with open("/dev/full", "wb") as full:
        done = _score_to(tmp_path, full.fileno())
    assert done.returncode == 0, done.stderr[-600:]
    assert done.stderr.count(b"score: warning: stdout cannot be written (No space left") == 1
    assert b"error" not in done.stderr
    assert json.loads((tmp_path / "e" / "run.json").read_text())["rows"] == 2


def test_a_report_stream_says_its_loss_once_and_keeps_the_command_going(
        capsys: pytest.CaptureFixture[str]) -> None:
    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    stream = ReportStream(Gone(), "cmd")
    assert stream.write("one\n") == 4 and stream.write("two\n") == 4
    stream.flush()
    assert capsys.readouterr().err.count("cmd: warning: stdout cannot be written") == 1


def _generate_with_stderr(tmp_path: Path, stderr: int, *args: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "auditstream", "generate", "--customers", "5", "--days", "3",
         "--out", "g.csv", *args], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
        stderr=stderr, timeout=60, check=False).returncode


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_a_full_stderr_loses_the_messages_not_the_run(tmp_path: Path) -> None:
    """`generate ... 2>/dev/full` (a log file on a full disk): before, its progress line's
    ENOSPC was taken for its --out's, whose error line failed again: exit 1 (which reads as
    "rows rejected"), no CSV written."""
    with open("/dev/full", "wb") as full:
        assert _generate_with_stderr(tmp_path, full.fileno()) == 0
        assert (tmp_path / "g.csv").read_text().count("\n") > 1
        # an expected failure keeps its own code when its line cannot be written
        assert _generate_with_stderr(tmp_path, full.fileno(), "--days", "0") == 2


def test_a_stderr_whose_reader_is_gone_loses_the_messages_not_the_run(tmp_path: Path) -> None:
    """`generate ... 2>&1 | head -c0`: before, exit 1 and no CSV, as for a full stderr."""
    read, write = os.pipe()
    os.close(read)
    try:
        assert _generate_with_stderr(tmp_path, write) == 0
    finally:
        os.close(write)
    assert (tmp_path / "g.csv").exists()
