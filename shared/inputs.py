"""A user's input file (a CSV to replay or score, a review file to import), opened once and
checked on its open descriptor: what is checked is what is read. Checked by name, then
opened by name, a file put at the name in between (a FIFO, a link, another file) was read
unchecked (a FIFO waited for a writer for ever). A link the user gives is followed: an
input may be one (unlike the exports, `shared.outputs.open_regular`)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from shared.names import shown

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

#: What `InputFile.open` refuses, by `NotAFile.kind`.
MISSING, FOLDER, SPECIAL = "missing", "folder", "special"


class NotAFile(Exception):
    """The input is no regular file: `kind` is `MISSING`, `FOLDER` or `SPECIAL` (a FIFO,
    device or socket); each command says so in its own words."""

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(f"{shown(path)}: {kind}")
        self.path, self.kind = path, kind


@dataclass(frozen=True)
class Version:
    """What an input held at one moment: its `stamp`, then the SHA-256 of its bytes."""

    stamp: tuple[int, int, int, int]
    sha256: str


class InputFile:
    """One open regular file. Each `reader` or `text` reads it from its start on its own
    (positioned reads of the one descriptor), so a file is opened once however often it is
    read; `stamp` says what it is (device, inode, size, modification time), `version` also
    what it holds."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = Path(path), fd

    @classmethod
    def open(cls, path: Path) -> InputFile:
        """`path` opened to read (without waiting on a FIFO), or `NotAFile`; another
        OSError (no permission) passes."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise NotAFile(path, MISSING) from None
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # a socket, or a device without its driver
                raise NotAFile(path, SPECIAL) from None
            raise
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise NotAFile(path, FOLDER if stat.S_ISDIR(mode) else SPECIAL)
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    def stamp(self) -> tuple[int, int, int, int]:
        st = os.fstat(self.fd)
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def version(self) -> Version:
        """Its stamp, then a SHA-256 of its bytes (read from the descriptor, no further than
        one byte past the size the stamp says: a file growing shows in its size, and one
        whose size says nothing, as /proc's, is not read for ever). Equal versions taken
        before and after a read mean the bytes read are the file's: written to in between,
        its size, modification time or bytes differ (the time alone misses a write in the
        same tick of the file system's clock, the bytes do not)."""
        stamp = self.stamp()
        digest, at, end = hashlib.sha256(), 0, stamp[2] + 1
        while at < end and (chunk := os.pread(self.fd, 1 << 20, at)):  # /proc: whole pages
            digest.update(chunk[:end - at])
            at += len(chunk)
        return Version(stamp, digest.hexdigest())

    def reader(self, *, closes: bool = False) -> io.BufferedReader:
        """The file's bytes from its start; `closes`: closing it closes the file too."""
        return io.BufferedReader(_Positioned(self, closes), 1 << 16)

    def text(self, encoding: str, errors: str = "strict", *, closes: bool = False) -> TextIO:
        """The file as text (newlines as they are, for the csv module), from its start."""
        return io.TextIOWrapper(self.reader(closes=closes), encoding=encoding, errors=errors,
                                newline="")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> InputFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def changed(files: Sequence[InputFile], before: Sequence[Version]) -> list[Path]:
    """The paths of `files` whose version is no longer as `before` says."""
    return [file.path for file, was in zip(files, before, strict=True)
            if file.version() != was]


class _Positioned(io.RawIOBase):
    """An `InputFile`'s bytes read with `os.pread` at a position of this reader's own."""

    def __init__(self, file: InputFile, closes: bool) -> None:
        self._file, self._closes, self._at = file, closes, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        n = os.preadv(self._file.fd, [buffer], self._at)
        self._at += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at}.get(whence)
        self._at = (os.fstat(self._file.fd).st_size if base is None else base) + offset
        return self._at

    def tell(self) -> int:
        return self._at

    def close(self) -> None:
        if not self.closed and self._closes:
            self._file.close()
        super().close()
