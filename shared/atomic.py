"""Atomic file replacement: a reader sees the old file or the new one, never half of either.

The one writer every part uses (exports, rejects reports, generated CSVs, report.html, the
.pbix). The new content goes to a temporary file in the same folder (same file system, so
the rename is atomic), given the mode a plain `open` would give it (0666 less the umask:
0644 under the usual 022, readable by Power BI and people; private under 077), is flushed and (when
`durable`) fsynced, then `os.replace`s the target; the folder is fsynced too so the rename
itself survives a power cut. On any exception the target is untouched and no temporary
file is left.

A kill (SIGKILL, OOM, power cut) does leave the temporary file. Its writer holds an
exclusive `flock` on it from creation to rename, which the kernel drops when the writer
dies, so `remove_temporaries` can tell a killed writer's file (unlocked: removed) from one
still being written by any process or thread (locked: kept), folder lock or not.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from shared.names import shown
from shared.outputs import check_file_target, creating


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it (another thread
    creating a file meanwhile would get the momentary one)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    """Make a rename or creation inside `folder` durable (a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


#: The name `atomic_path` gives a temporary file: "." + the target's name + "." + mkstemp's
#: 8 random characters + ".tmp".
_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


def remove_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files of `atomic_path` that a killed process (SIGKILL, power
    cut) left in `folder` (not below it); return them. A file a live writer holds (its
    lock) is kept, so this is safe beside writers that do not take the folder's lock; on a
    file system without `flock` nothing is removed (a live writer cannot be told apart)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = sorted(p for p in folder.iterdir() if _TEMPORARY.fullmatch(p.name))
    return [path for path in names if _remove_if_abandoned(path)]


def _remove_if_abandoned(path: Path) -> bool:
    """Unlink `path` if it is a regular file no writer holds; True if it did."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # gone, a symbolic link, not readable: not ours to judge
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by a live writer: raises
        # Locked by us now, so no writer can start or finish with this file; it is only
        # removed if the name still is this file (not one a new writer made since).
        if not os.path.samestat(os.fstat(fd), os.lstat(path)):
            return False
        path.unlink()
        return True
    except OSError:  # BlockingIOError: in use; others: flock unsupported, raced away
        return False
    finally:
        os.close(fd)  # after the unlink: a writer that locks it next sees it is gone


#: How many temporary files a writer tries before it gives up (each retry means a remover
#: took the previous one in the moment between its creation and its lock).
_ATTEMPTS = 20


def _locked_temporary(folder: Path, name: str) -> tuple[int, Path]:
    """A new temporary file for target `name` in `folder`, and a descriptor holding its
    `flock` (kept until the file is renamed or removed)."""
    for _ in range(_ATTEMPTS):
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        try:
            if _lock_if_still_mine(fd, tmp):
                return fd, Path(tmp)
        except BaseException:
            os.close(fd)
            Path(tmp).unlink(missing_ok=True)
            raise
        os.close(fd)  # a remover took it in the moment before the lock: take another
    raise OSError(f"{shown(folder)}: no temporary file for {name} survived {_ATTEMPTS} attempts "
                  "(something keeps removing them)")


def _lock_if_still_mine(fd: int, tmp: str) -> bool:
    """Lock the new file `fd`; False if a remover holds it (and will unlink it) or has
    already unlinked it. Without `flock` (some network file systems) the file is used
    unlocked, and `remove_temporaries` never removes it either."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return True
    try:
        return os.path.samestat(os.fstat(fd), os.stat(tmp))
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def atomic_path(target: Path, *, durable: bool = True) -> Iterator[Path]:
    """A temporary path beside `target` that replaces it when the block ends cleanly.

    For writers that take a path (a library saving a file); the others use `atomic_writer`.
    """
    target = Path(target)
    check_file_target(target)
    folder = target.parent
    with creating(target):  # named as the user gave it, not by its hidden temporary
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = _locked_temporary(folder, target.name)
    try:
        try:
            yield tmp
            # mkstemp makes 0600: the mode `open` would give, as the day files have (readers
            # such as Power BI need read; a user's umask 077 keeps the exports private).
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    finally:
        os.close(fd)  # the lock goes only once the file is renamed or removed
    if durable:
        fsync_dir(folder)


@contextlib.contextmanager
def atomic_writer(target: Path, *, durable: bool = True) -> Iterator[BinaryIO]:
    """A binary file that replaces `target` when the block ends without an exception."""
    with atomic_path(target, durable=durable) as tmp, open(tmp, "wb") as fh:
        yield fh
        fh.flush()
        if durable:
            os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_text_writer(target: Path, *, durable: bool = False) -> Iterator[TextIO]:
    """`atomic_writer` in text mode: UTF-8, line ends written exactly as given."""
    with atomic_path(target, durable=durable) as tmp, \
            open(tmp, "w", encoding="utf-8", newline="") as fh:
        yield fh
        fh.flush()
        if durable:
            os.fsync(fh.fileno())


def atomic_write_bytes(target: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace `target` with `data` atomically; `durable` also fsyncs file and folder."""
    with atomic_writer(target, durable=durable) as fh:
        fh.write(data)


def atomic_write_text(target: Path, text: str, *, durable: bool = True) -> None:
    atomic_write_bytes(target, text.encode("utf-8"), durable=durable)
