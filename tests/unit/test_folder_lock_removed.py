"""A writer that leaves no lock file (`FolderLock(keep=False)`: `dashboard sample`, whose
folder is committed) removes it while it still holds the lock. A writer that opened the
file just before and takes the lock just after holds a file no longer at the name, while a
third creates a new one and takes that: two writers. So a lock is held only on the file at
the name, taken anew otherwise."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

import pytest

from shared.errors import LockedError
from shared.folderlock import LOCK_FILE, FolderLock


def test_a_lock_that_keeps_no_file_removes_it_and_one_that_keeps_it_does_not(
        tmp_path: Path) -> None:
    with FolderLock(tmp_path / "kept", "sink"):
        pass
    with FolderLock(tmp_path / "gone", "dashboard sample", keep=False):
        assert (tmp_path / "gone" / LOCK_FILE).is_file()  # held while it runs
    assert (tmp_path / "kept" / LOCK_FILE).is_file()
    assert not (tmp_path / "gone" / LOCK_FILE).exists()


def test_a_lock_file_removed_between_its_open_and_its_lock_is_taken_anew(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = FolderLock(tmp_path, "dashboard sample", keep=False).acquire()
    real = fcntl.flock
    calls: list[int] = []

    def flock(fd: int, operation: int) -> Any:
        if not calls:  # the second has opened the file: the first ends meanwhile
            first.release()
        calls.append(fd)
        return real(fd, operation)

    monkeypatch.setattr("shared.folderlock.fcntl.flock", flock)
    second = FolderLock(tmp_path, "sink").acquire()
    monkeypatch.undo()
    try:
        with pytest.raises(LockedError, match=r"in use by another writer \(pid \d+ \(sink\)"):
            FolderLock(tmp_path, "score").acquire()  # the second holds the file at the name
    finally:
        second.release()
    assert len(calls) == 2  # its first lock, of a file no longer there, let go


def test_a_taker_still_writing_its_pid_is_named_not_the_last_holder(tmp_path: Path) -> None:
    """Between a taker's `flock` and the write of its PID (microseconds), a refused writer
    read the file as the last holder left it: exit 6 naming a process that had ended (to
    be stopped: by then maybe another's PID), or "pid unknown" in a new lock file. The
    holder now empties the file as it lets go, and a refused writer reads an empty one again
    for a moment (hostile probe, 2026-12-07, session 22)."""
    import os
    import threading

    FolderLock(tmp_path, "score").acquire().release()  # the last holder, ended
    fd = os.open(tmp_path / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a taker, its PID not written yet
        late = threading.Timer(0.05, os.pwrite, (fd, b"4242 dashboard sample\n", 0))
        late.start()
        with pytest.raises(LockedError) as refused:
            FolderLock(tmp_path, "sink").acquire()
        late.join()
    finally:
        os.close(fd)
    assert "pid 4242 (dashboard sample)" in str(refused.value)


def test_a_released_lock_file_names_no_holder(tmp_path: Path) -> None:
    with FolderLock(tmp_path, "score"):
        assert (tmp_path / LOCK_FILE).read_text().endswith(" score\n")
    assert (tmp_path / LOCK_FILE).read_bytes() == b""
