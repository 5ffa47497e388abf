"""One writer per exports folder: an exclusive `flock` on `.sink.lock` inside it.

The sink holds the lock for as long as it runs, and `auditstream score --out` while it
writes, so a second writer on the same folder stops at once with `LockedError` (exit 6)
naming the holder's PID instead of appending every row a second time. The kernel releases
the lock when its holder exits, however it exits (kill -9 included), so a stale lock file
never blocks a restart; the file itself stays (emptied as its holder lets go: a PID in it
is a live holder's, or a killed one's), but for a writer that keeps none
(`keep=False`) and removes it while it still holds the lock: a lock is held only on the
file at the name, so one taken on a removed file is taken again on the file there now.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from shared.errors import LockedError, UsageError
from shared.names import shown
from shared.outputs import check_folder_of, creating, open_regular

LOCK_FILE = ".sink.lock"


class FolderLock:
    """`with FolderLock(folder, "sink"):` holds the folder's lock for the block."""

    def __init__(self, folder: Path, holder: str = "sink", *, keep: bool = True) -> None:
        """`keep=False`: the lock file is removed as the lock is let go (a folder that is
        committed: `dashboard sample`)."""
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.holder = holder
        self.keep = keep
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock or raise `LockedError`; a folder whose parent is missing is a
        `UsageError`, one that refuses the lock file its OSError (`shared.outputs.creating`)."""
        if self.folder.exists() and not self.folder.is_dir():
            raise UsageError(f"{shown(self.folder)} is not a folder; give a folder ({self.holder} "
                             "creates it if missing)")
        check_folder_of(self.folder)  # the folder itself is created, never the ones above
        fd = self._lock()
        while not _at(self.path, fd):  # removed by a holder that keeps none as it let go
            os.close(fd)
            fd = self._lock()
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {self.holder}\n".encode())
        except BaseException:
            os.close(fd)  # closing the descriptor releases the lock
            raise
        self._fd = fd
        return self

    def _lock(self) -> int:
        """The lock file, open and locked, or `LockedError`."""
        with creating(self.folder):
            self.folder.mkdir(exist_ok=True)
            # 0666 less the umask, as every export (shared.atomic): under umask 002 a group
            # that shares the folder can take the lock too, not only its first writer
            # a regular file only: a link's target would be cut and get the PID
            fd = open_regular(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            raise LockedError(
                f"{shown(self.folder)} is in use by another writer ({owner}, lock "
                f"{shown(self.path)}); stop that process first, or give this one another folder"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            if not self.keep:  # while still held: a taker checks the file is at the name
                self.path.unlink(missing_ok=True)
            else:  # while still held: the next taker's refused writers never read our PID
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
            os.close(fd)  # closing releases the flock; a kept file stays for the next holder

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _at(path: Path, fd: int) -> bool:
    """Whether `fd` is the file at `path` now (its holder may have removed it meanwhile)."""
    try:
        there = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (there.st_dev, there.st_ino) == (own.st_dev, own.st_ino)


#: How long a refused writer reads an empty lock file again: its holder has the lock and
#: is writing its PID (microseconds after the `flock`).
OWNER_WAIT_S = 0.5


def _read_owner(fd: int) -> str:
    """'pid 1234 (sink)' from the lock file, or what can be said without it. An empty file
    is read again for up to `OWNER_WAIT_S`: a holder empties it as it lets go (it named a
    process that had ended to a writer refused in the next holder's first microseconds)."""
    deadline = time.monotonic() + OWNER_WAIT_S
    while True:
        try:
            text = os.pread(fd, 200, 0).decode(errors="replace").split(None, 1)
        except OSError:
            text = []  # the holder may be several words ("dashboard sample")
        if text or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    if text and text[0].isdigit():
        what = f" ({text[1].strip()})" if len(text) > 1 else ""
        return f"pid {text[0]}{what}"
    return "pid unknown"
