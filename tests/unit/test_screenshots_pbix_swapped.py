"""`dashboard screenshots --pbix FILE` with the file replaced at its name between its
check and its read (found 2026-12-06, wording review): the command checked the name
(`is_file()`), then opened the name again (`zipfile.is_zipfile`, and the previews), so a
FIFO put there in between was waited on for ever and another file was read unchecked.
The .pbix is now opened once and checked on its descriptor (`shared.inputs.InputFile`),
and the previews read a copy of what was checked. The swap is made at the very point
between the old check and the old open (the monkeypatched `zipfile.is_zipfile`); an alarm
turns a wait for ever on a FIFO into a failure."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import auditstream.dashboard_cmd as cmd
import dashboard.preview
from auditstream.cli import main
from shared.errors import ExitCode
from tests.fifo_guard import alarm


@pytest.fixture
def no_hang() -> Iterator[None]:
    """A read that waits on a FIFO is a failure after 10 s, not a hung test run."""
    with alarm(10, "the .pbix's name"):
        yield


class _Page:
    def __enter__(self) -> _Page:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def open(self, *_: object, **__: object) -> None:
        return None

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        return path


def _pbix(path: Path) -> bytes:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("Version", "1.28")
    return path.read_bytes()


def _swap(path: Path, to: str) -> None:
    """A FIFO or a file that is not a .pbix put at `path` by rename (as an editor saves)."""
    new = path.with_name("new-" + path.name)
    if to == "fifo":
        os.mkfifo(new)
    else:
        new.write_text("not,a,pbix\n")
    os.replace(new, path)


@pytest.fixture
def previewed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[bytes]:
    """The bytes of each .pbix the previews were drawn from; no browser started."""
    seen: list[bytes] = []

    def previews(pbix: Path, out: Path) -> list[Path]:
        seen.append(Path(pbix).read_bytes())
        return []

    monkeypatch.setattr(cmd, "Chromium", lambda **_: _Page())
    monkeypatch.setattr(cmd, "write_report_from_exports",
                        lambda source, into: Path(into) / "report.html")
    # imported where `screenshots` draws them (not at every command's start: start16)
    monkeypatch.setattr(dashboard.preview, "write_previews", previews)
    return seen


@pytest.mark.usefixtures("no_hang")
@pytest.mark.parametrize("to", ["fifo", "another file"])
def test_the_previews_read_the_pbix_that_was_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, previewed: list[bytes],
        to: str) -> None:
    pbix = tmp_path / "dashboard.pbix"
    checked = _pbix(pbix)
    real = zipfile.is_zipfile

    def swapping(what: Any) -> bool:
        _swap(pbix, to)
        return real(what)

    monkeypatch.setattr(zipfile, "is_zipfile", swapping)
    code = main(["dashboard", "screenshots", "--out", str(tmp_path / "shots"),
                 "--pbix", str(pbix)])
    assert code == 0
    assert previewed == [checked]


@pytest.mark.usefixtures("no_hang")
def test_a_fifo_given_as_the_pbix_is_refused_in_one_line_not_waited_on(
        tmp_path: Path, previewed: list[bytes], capsys: pytest.CaptureFixture[str]) -> None:
    pbix = tmp_path / "dashboard.pbix"
    os.mkfifo(pbix)
    out = tmp_path / "shots"
    code = main(["dashboard", "screenshots", "--out", str(out), "--pbix", str(pbix)])
    assert code == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--pbix {pbix} is not a file" in err[0], err
    assert previewed == [] and not out.exists()
