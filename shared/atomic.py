"""Atomic file replacement: a reader sees the old file or the new one, never half of either.

The one writer every part uses (exports, rejects reports, generated CSVs, report.html, the
.pbix). The new content goes to a temporary file in the same folder (same file system, so
the rename is atomic), readable by others (0644: Power BI, people), is flushed and (when
`durable`) fsynced, then `os.replace`s the target; the folder is fsynced too so the rename
itself survives a power cut. On any exception the target is untouched and no temporary
file is left.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO


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
    cut) left in `folder` (not below it); return them. Only for a writer holding the
    folder's lock: another writer's file in progress would be removed too."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    gone = [p for p in folder.iterdir() if _TEMPORARY.fullmatch(p.name) and p.is_file()]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


@contextlib.contextmanager
def atomic_path(target: Path, *, durable: bool = True) -> Iterator[Path]:
    """A temporary path beside `target` that replaces it when the block ends cleanly.

    For writers that take a path (a library saving a file); the others use `atomic_writer`.
    """
    target = Path(target)
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; readers such as Power BI need read
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
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
