"""A rename the exports' file system refuses (hostile probe, 2026-12-06, fourteenth): every
file of the exports is written beside its name and renamed onto it, and some file systems
refuse that rename with an errno a local disk never gives. A Windows share (CIFS) whose file
is open in Excel or Power BI answers a sharing violation as EBUSY; a FUSE mount of cloud
storage without rename, ENOSYS or EOPNOTSUPP; a union file system (mergerfs) whose branches
differ, EXDEV. Each was a traceback and exit 70, "a bug", where a full or read-only disk is
one line and exit 5 (a supervisor restarts the sink; the earlier files stay whole)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from shared.csv_io import write_transactions_csv
from shared.errors import ExitCode
from tests.unit.test_core_engine import stream

REFUSED = [errno.EBUSY, errno.ETXTBSY, errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP]


@pytest.mark.parametrize("code", REFUSED, ids=[errno.errorcode[c] for c in REFUSED])
def test_a_rename_the_exports_file_system_refuses_is_one_line_and_exit_5(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        code: int) -> None:
    source = tmp_path / "in.csv"
    write_transactions_csv(stream(n=200, customers=5, seed=2), source)
    out = tmp_path / "out"
    real = os.replace

    def refused(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if str(out) in os.fspath(src) or kwargs.get("src_dir_fd") is not None:
            raise OSError(code, os.strerror(code), os.fspath(src), None, os.fspath(dst))
        real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", refused)
    assert main(["score", str(source), "--out", str(out)]) == ExitCode.OUTPUT_UNWRITABLE
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    [line] = [x for x in err.splitlines() if "WARNING" not in x]
    assert line.startswith("auditstream score: error: cannot write "), line


def test_a_refused_rename_names_the_file_it_would_replace_not_the_temporary() -> None:
    from shared.outputs import as_output_error

    exc = OSError(errno.EBUSY, "Device or resource busy", "/x/.cases.csv.ab12.tmp", None,
                  "/x/cases.csv")
    assert str(as_output_error(exc)).startswith("cannot write /x/cases.csv: the file is in use")
    one = OSError(errno.ENOSPC, "No space left on device", "/x/.cases.csv.ab12.tmp")
    assert str(as_output_error(one)).startswith("cannot write /x/.cases.csv.ab12.tmp: the disk")


@pytest.mark.parametrize("code", [errno.EBUSY, errno.ETXTBSY])
def test_report_html_held_open_on_a_share_is_logged_as_before_and_the_sink_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, code: int) -> None:
    """report.html is best effort beside the exports: held open (a rename refused as in use)
    it was logged and the sink went on, and so it stays now that the tables' own refused
    rename stops the sink (a table the dashboard reads must not go stale in silence)."""
    from typing import cast

    from sink.exports import Rollups, notify

    def held(_: Rollups, folder: Path) -> None:
        raise OSError(code, os.strerror(code), str(folder / ".report.html.x.tmp"), None,
                      str(folder / "report.html"))

    notify(held, cast(Rollups, None), tmp_path)
    assert "the rollup listener failed" in caplog.text
    with pytest.raises(OSError):  # `score`, strict: the run's failure
        notify(held, cast(Rollups, None), tmp_path, strict=True)
