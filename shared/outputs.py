"""Writing failures the world brings (disk full, read-only, no permission) as `OutputError`,
the one rule for where a command may write (`check_folder_of`), and for what it writes to
(`open_regular`: a regular file at the name itself, never through a link or into a FIFO).

An `OSError` of one of these kinds is not a bug: the command says what happened and what to
do in one line and exits `ExitCode.OUTPUT_UNWRITABLE`, never with a traceback. Neither is
any OSError from creating a file in a folder that exists (`shared.atomic`, `FolderLock`):
some places refuse files whatever the rights (`/proc`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from shared.errors import OutputError, UsageError
from shared.names import shown

#: errno -> (what happened, what to do).
OUTPUT_ERRNOS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("the disk is full", "free space on it or choose another folder, then run again"),
    errno.EDQUOT: ("the disk quota is exhausted",
                   "free space on it or choose another folder, then run again"),
    errno.EROFS: ("the file system is read-only", "choose a writable folder"),
    errno.EACCES: ("permission denied", "choose a folder you can write to, or fix its permissions"),
    errno.EPERM: ("the file cannot be changed (permission or immutable attribute)",
                  "choose a folder you can write to, or fix its permissions"),
    errno.EFBIG: ("the file is larger than the file system or a limit (ulimit -f) allows",
                  "raise the limit or choose another folder, then run again"),
    errno.EIO: ("the disk reported an input/output error",
                "check the disk or network share, or choose another folder, then run again"),
    # Renames some file systems refuse, where each file is written beside its name and
    # renamed onto it: a Windows share (CIFS) answers a file open in Excel or Power BI
    # with a sharing violation, EBUSY (ETXTBSY alike); a FUSE mount of cloud storage may
    # not rename at all; a union file system (mergerfs) whose branches differ says EXDEV.
    errno.EBUSY: ("the file is in use (on a network share: open in another program, such "
                  "as Excel or Power BI)", "close it there, then run again"),
    errno.ETXTBSY: ("the file is in use (on a network share: open in another program, such "
                    "as Excel or Power BI)", "close it there, then run again"),
    errno.ENOSYS: ("the file system cannot rename files (a FUSE or cloud-storage mount?)",
                   "choose a folder on a file system that renames files"),
    errno.EOPNOTSUPP: ("the file system cannot rename files (a FUSE or cloud-storage mount?)",
                       "choose a folder on a file system that renames files"),
    # Not the folder's fault: the process's open-file limit (`ulimit -n`, a container's or
    # a service's LimitNOFILE), or the system's.
    errno.EMFILE: ("too many open files for this process's limit",
                   "raise the limit (`ulimit -n`, LimitNOFILE), then run again"),
    errno.ENFILE: ("too many open files on this system",
                   "close other programs' files or raise the system's limit, then run again"),
    errno.EXDEV: ("the file system cannot move a file within the folder (a union file "
                  "system whose branches differ?)",
                  "choose a folder on one file system"),
}


#: The kinds that are one file's, not the folder's: that file is in use elsewhere (a share's
#: sharing violation). A best-effort writer (report.html) beside the exports goes on.
IN_USE_ERRNOS = frozenset({errno.EBUSY, errno.ETXTBSY})


def is_output_error(exc: BaseException) -> bool:
    """Whether `exc` is an OSError of a kind `as_output_error` turns into a message."""
    return isinstance(exc, OSError) and exc.errno in OUTPUT_ERRNOS


def as_output_error(exc: OSError, where: Path | str | None = None,
                    after: str = "") -> OutputError:
    """One-line `OutputError` for `exc` (which must satisfy `is_output_error`).

    `where` names the file or folder when the OSError itself does not (a failed write or
    fsync has no file name); `after` says what state the output is left in.
    """
    what, todo = OUTPUT_ERRNOS.get(exc.errno or 0, (
        (exc.strerror or str(exc)).lower(), "choose a folder you can write to"))
    # a rename's error names both files: the one replaced is the user's (`cases.csv`)
    named = exc.filename2 if exc.filename2 is not None else exc.filename
    target = named if named is not None else where
    place = f"cannot write {shown(target)}" if target is not None else "cannot write the output"
    state = f"{after.strip()}; " if after.strip() else ""
    return OutputError(f"{place}: {what}; {state}{todo}")


@contextlib.contextmanager
def output_errors(where: Path | str | None = None, after: str = "") -> Iterator[None]:
    """Turn an expected OSError inside the block into `OutputError` (others, an OutputError
    among them, pass unchanged)."""
    try:
        yield
    except OSError as exc:
        if not is_output_error(exc):
            raise
        raise as_output_error(exc, where, after) from exc


def check_folder_of(target: Path) -> None:
    """Refuse to write `target` (a file, or a folder such as the exports) unless the folder
    it goes in exists: `UsageError` (exit 2) naming the missing folder. A command creates
    what it was told to write, never the folders above it: a mistyped path must not
    quietly create a tree. A `target` that is a link to nothing is refused the same way."""
    target = Path(target)
    if target.is_symlink() and not target.exists():  # mkdir would say "file exists"
        if _loops(target):
            raise link_loop(target, target, "write")
        raise UsageError(f"cannot write {shown(target)}: {shown(target)} is a link to "
                         f"{shown(os.readlink(target))}, which does not exist; create it first or "
                         "correct the path")
    folder = target.parent
    if folder.is_dir():
        return
    if folder.exists():
        raise UsageError(f"cannot write {shown(target)}: {shown(folder)} is not a folder; "
                         "correct the path")
    raise UsageError(f"cannot write {shown(target)}: folder {shown(folder)} does not exist; "
                     "create it first or correct the path")


def check_folder_path(folder: Path) -> None:
    """Refuse a folder that is made with the folders above it when missing (`DETECTOR_STATE_DIR`)
    if it, or a folder above it, is there but is not a folder: `UsageError` (exit 2) naming
    which. A file there was only warned of at each failure, the count it keeps lost."""
    folder = Path(folder)
    for path in (folder, *folder.parents):
        if path.is_dir():
            return
        if path.exists() or path.is_symlink():
            inside = "" if path == folder else f" (on the way to {shown(folder)})"
            raise UsageError(f"{shown(path)} is not a folder{inside}; give a folder (it is "
                             "made if missing)")


def _loops(path: Path) -> bool:
    """Whether `path` is a symbolic link loop (`a -> b -> a`), not a link to nothing."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def link_loop(target: Path, loop: Path, verb: str) -> UsageError:
    """The one-line refusal (exit 2) to `verb` (read, write) `target` because `loop`, the
    name itself or a folder above it, is a symbolic link loop."""
    return UsageError(f"cannot {verb} {shown(target)}: {shown(loop)} is a symbolic link loop "
                      "(its links lead back to themselves); correct the path")


def _loop_above(path: Path) -> Path | None:
    """The first folder above `path` that is a symbolic link loop, if one is."""
    return next((p for p in reversed(path.parents) if p.is_symlink() and _loops(p)), None)


def check_file_target(target: Path) -> None:
    """Refuse to replace `target` unless it is a regular file or nothing yet: `UsageError`
    (exit 2). A file is written beside its target and renamed onto it, which would replace
    a folder's name, a device (`--out /dev/full` as root replaced the machine's /dev/full
    with a CSV), a pipe or a socket, or a link to one, by a regular file."""
    target = Path(target)
    if target.is_dir():
        raise UsageError(f"{shown(target)} is a folder; give a file name")
    if target.exists() and not target.is_file():
        raise UsageError(f"cannot write {shown(target)}: it is not a regular file (a device, pipe "
                         "or socket), which the written file would replace; give a file name")


@contextlib.contextmanager
def creating(target: Path) -> Iterator[None]:
    """Within the block, which creates `target` (or a temporary for it) in a folder that
    exists, an OSError is named `target`, not a hidden temporary. Of a kind
    `is_output_error` knows it stays an OSError (the caller says what state its output is
    in); any other kind is an `OutputError` (an OSError too, so best-effort callers still
    tolerate it) at once. One without errno (ours, or an OutputError) passes."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None:
            raise
        named = OSError(exc.errno, exc.strerror, str(target))
        if is_output_error(named):
            raise named from exc
        raise as_output_error(named) from exc


#: What `open_regular` adds to every open: a symbolic link at the name is refused (ELOOP),
#: not followed out of the folder; a FIFO without a reader is refused (ENXIO) or opened
#: without waiting, not waited on for ever.
_ONLY_HERE = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
#: What the OSErrors of that open say about the name (other errnos pass as they are).
_NOT_REGULAR = {errno.ELOOP: "a symbolic link", errno.ENXIO: "a FIFO or device",
                errno.EISDIR: "a folder"}


def not_regular(path: Path, what: str) -> UsageError:
    """The one-line refusal of a name that is no regular file (exit 2)."""
    return UsageError(
        f"{shown(path)} is {what}, not a regular file: auditstream writes its exports only as "
        "regular files in the folder, never through a link, into a FIFO or over a folder; "
        "move it away and run again")


def refuse_irregular(paths: Iterable[Path]) -> None:
    """`not_regular` for the first of `paths` that is there as no regular file (a folder,
    a link, a FIFO): a writer that renames files to these names asks it before the first
    rename, so a refusal leaves every name as it was."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            kind = os.lstat(path).st_mode
            if not stat.S_ISREG(kind):
                raise not_regular(Path(path), kind_of(kind))


def same_file(a: Path, b: Path) -> bool:
    """One file by any name (a link too); by resolved path when either is not there."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # realpath, not Path.resolve: a symbolic link loop was its RuntimeError
        return os.path.realpath(a) == os.path.realpath(b)


def kind_of(mode: int) -> str:
    """What a name that is no regular file is, in `not_regular`'s words (`mode`: its
    `lstat` or `fstat` st_mode)."""
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a symbolic link" if stat.S_ISLNK(mode) else "a FIFO or device"


def open_regular(path: Path, flags: int, mode: int = 0o666, *,
                 dir_fd: int | None = None) -> int:
    """`os.open` of a regular file at `path` itself (`flags` as for os.open): a symbolic
    link, a FIFO, a device or a folder at the name is `not_regular` (nothing opened,
    created or written through it). The exports folder above may itself be a link. With
    `dir_fd` (an open folder), `path`'s name is opened in that very folder, whatever is
    at its path now (`path` names it in messages)."""
    try:
        fd = os.open(path if dir_fd is None else Path(path).name, flags | _ONLY_HERE, mode,
                     dir_fd=dir_fd)
    except OSError as exc:
        loop = _loop_above(Path(path)) if exc.errno == errno.ELOOP and dir_fd is None else None
        if loop is not None:  # not a link at the name: `loop/cases.csv` "is a symbolic link"
            verb = "read" if flags & os.O_ACCMODE == os.O_RDONLY else "write"
            raise link_loop(Path(path), loop, verb) from None
        if exc.errno in _NOT_REGULAR:
            raise not_regular(Path(path), _NOT_REGULAR[exc.errno]) from None
        if dir_fd is not None:  # named by its path, not its name alone
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    try:
        kind = os.fstat(fd).st_mode
        if not stat.S_ISREG(kind):
            raise not_regular(Path(path), kind_of(kind))
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path, limit: int = -1) -> bytes:
    """The bytes of the regular file at `path` itself (all of them, or the first `limit`),
    opened through `open_regular`: its errors as there."""
    with os.fdopen(open_regular(path, os.O_RDONLY), "rb") as fh:
        return fh.read(limit)


def open_append(path: Path, *, dir_fd: int | None = None) -> BinaryIO:
    """A regular file at `path` (created if missing) opened to append, as `open(path,
    "ab")` but through `open_regular` (`dir_fd` as there)."""
    fd = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, dir_fd=dir_fd)
    return os.fdopen(fd, "ab")


def open_text(path: Path, encoding: str, newline: str | None = None,
              errors: str = "strict") -> TextIO:
    """A regular file at `path` opened to read as text, as `open(path, encoding=encoding,
    newline=newline, errors=errors)` but through `open_regular`: a FIFO there waited for a
    writer for ever, a folder was a traceback, a link was read through (`FileNotFoundError`
    when there is none)."""
    return open(open_regular(path, os.O_RDONLY), encoding=encoding, newline=newline,
                errors=errors)


def remove_file(path: Path) -> None:
    """Remove the file or symbolic link at `path` if there is one (never what a link points
    at); a folder there is `not_regular`, left as it is."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        raise not_regular(Path(path), "a folder") from None
