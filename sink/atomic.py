"""Atomic file replacement: a reader sees the old file or the new one, never half of either.

The new content goes to a temporary file in the same folder (same file system, so the
rename is atomic), is flushed and fsynced, then `os.replace`s the target; the folder is
fsynced too so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


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


@contextlib.contextmanager
def atomic_writer(target: Path, *, durable: bool = True) -> Iterator[BinaryIO]:
    """A binary file that replaces `target` when the block ends without an exception."""
    target = Path(target)
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(folder)


def atomic_write_bytes(target: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace `target` with `data` atomically; `durable` also fsyncs file and folder."""
    with atomic_writer(target, durable=durable) as fh:
        fh.write(data)


def atomic_write_text(target: Path, text: str, *, durable: bool = True) -> None:
    atomic_write_bytes(target, text.encode("utf-8"), durable=durable)
