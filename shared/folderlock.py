"""One writer per exports folder: an exclusive `flock` on `.sink.lock` inside it.

The sink holds the lock for as long as it runs, and `auditstream score --out` while it
writes, so a second writer on the same folder stops at once with `LockedError` (exit 6)
naming the holder's PID instead of appending every row a second time. The kernel releases
the lock when its holder exits, however it exits (kill -9 included), so a stale lock file
never blocks a restart; the file itself stays (removing it would race with a new holder).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from shared.errors import LockedError, UsageError
from shared.names import shown
from shared.outputs import check_folder_of, creating, open_regular

LOCK_FILE = ".sink.lock"


class FolderLock:
    """`with FolderLock(folder, "sink"):` holds the folder's lock for the block."""

    def __init__(self, folder: Path, holder: str = "sink") -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.holder = holder
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock or raise `LockedError`; a folder whose parent is missing is a
        `UsageError`, one that refuses the lock file its OSError (`shared.outputs.creating`)."""
        if self.folder.exists() and not self.folder.is_dir():
            raise UsageError(f"{shown(self.folder)} is not a folder; give a folder ({self.holder} "
                             "creates it if missing)")
        check_folder_of(self.folder)  # the folder itself is created, never the ones above
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
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {self.holder}\n".encode())
        except BaseException:
            os.close(fd)  # closing the descriptor releases the lock
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing releases the flock; the file stays for the next holder

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_owner(fd: int) -> str:
    """'pid 1234 (sink)' from the lock file, or what can be said without it."""
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").split(None, 1)
    except OSError:
        text = []  # the holder may be several words ("dashboard sample")
    if text and text[0].isdigit():
        what = f" ({text[1].strip()})" if len(text) > 1 else ""
        return f"pid {text[0]}{what}"
    return "pid unknown"
