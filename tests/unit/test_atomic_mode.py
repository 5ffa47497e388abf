"""An atomically written file gets the mode a plain `open` would: 0666 less the umask.

Before: every export, rejects report, generated CSV, report.html and .pbix was chmod 0644
whatever the umask, so a user who set `umask 077` to keep customer ids, amounts and IP
addresses private found the rollups world-readable (the day files, appended with `open`,
were not: two modes in one folder).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.atomic import atomic_path, atomic_write_text
from shared.folderlock import LOCK_FILE, FolderLock


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize(("mask", "mode"), [(0o077, 0o600), (0o022, 0o644), (0o002, 0o664),
                                            (0o027, 0o640)])
def test_the_mode_is_what_open_gives_under_the_umask(
    umask: None, mask: int, mode: int, tmp_path: Path,
) -> None:
    os.umask(mask)
    written = tmp_path / "cases.csv"
    atomic_write_text(written, "a,b\n")
    with atomic_path(tmp_path / "report.html") as tmp:
        tmp.write_text("<p>")
    plain = tmp_path / "plain.csv"
    plain.write_text("a,b\n")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode)
             for p in (written, tmp_path / "report.html", plain)}
    assert modes == {"cases.csv": mode, "report.html": mode, "plain.csv": mode}


@pytest.mark.parametrize(("mask", "mode"), [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_the_folders_lock_file_has_the_exports_mode(
    umask: None, mask: int, mode: int, tmp_path: Path,
) -> None:
    """Before: `.sink.lock` was 0644 whatever the umask, so under umask 002 in a folder a
    team shares (group-writable, setgid) a colleague could replace every export but not open
    the lock: `score --out` failed with "cannot write e: permission denied"."""
    os.umask(mask)
    with FolderLock(tmp_path / "exports", "score"):
        pass
    assert stat.S_IMODE((tmp_path / "exports" / LOCK_FILE).stat().st_mode) == mode
