"""How every entry point ends: an expected failure is one line on stderr and its exit code.

Used by the `auditstream` CLI and by the services' `python -m producer|detector|sink`, so the
services need nothing from the composition root.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import errno
import io
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings
from pydantic_settings.exceptions import SettingsError

from shared.errors import AuditstreamError, ExitCode, UsageError
from shared.names import shown
from shared.outputs import as_output_error, is_output_error
from shared.partitioning import MAX_PARTITIONS


def run_guarded(prog: str, func: Callable[[], int | None]) -> int:
    """Run a command; turn an expected failure into one line on stderr and its exit code.

    An `AuditstreamError` prints "PROG: error: <cause and what to do>" and returns its
    `exit_code`; an OSError of the disk-full / read-only / permission kinds is an
    `OutputError` (exit 5). Anything else is a bug: its traceback, one line saying so, and
    `ExitCode.BUG` (Python's own 1 would read as "some rows rejected"). A stdout or
    stderr that fails loses the command's messages there, never its outcome
    (`ReportStream`)."""
    tolerant_console()
    stdout, stderr = sys.stdout, sys.stderr
    if stdout is not None:
        sys.stdout = ReportStream(stdout, prog)
    if stderr is not None:
        sys.stderr = ReportStream(stderr, prog, "stderr")
    try:
        return _expected(prog, func)
    except Exception:
        traceback.print_exc()
        print(f"{prog}: internal error (a bug, not the input or the settings): the traceback "
              "above says where; please report it with that traceback", file=sys.stderr)
        return int(ExitCode.BUG)
    finally:
        if stdout is not None:
            sys.stdout.flush()  # what is still buffered, through the guard
            sys.stdout = stdout
        if stderr is not None:
            sys.stderr.flush()
            sys.stderr = stderr


class ReportStream:
    """A command's stdout, guarded. Every command's stdout only reports work done elsewhere
    (files, topics), so a stdout that fails (its reader gone, `| head`; a full device,
    `> /dev/full`) loses those messages, said once on stderr, and the command goes on with
    its own exit code. It was a BrokenPipeError traceback and exit 70 after the work was
    done, or, inside `score`'s output guard, "the disk is full" about an exports folder that
    was whole. A stderr that fails (`2>/dev/full`, `2>&1 | head -c0`) is guarded the same
    way, its loss said nowhere: before, `generate`'s progress line's ENOSPC was taken for
    its `--out`'s and its error line failed too, exit 1 ("rows rejected") and no CSV."""

    def __init__(self, inner: IO[str], prog: str, name: str = "stdout") -> None:
        self._inner, self._prog, self._name, self.lost = inner, prog, name, False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                return self._inner.write(text)
            except (OSError, ValueError) as exc:  # ValueError: a stdout closed in-process
                self._lose(exc)
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._inner.flush()
            except (OSError, ValueError) as exc:
                self._lose(exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _lose(self, exc: OSError | ValueError) -> None:
        self.lost = True
        why = getattr(exc, "strerror", None) or exc
        if self._name != "stderr":  # stderr's loss has nowhere to be said
            print(f"{self._prog}: warning: {self._name} cannot be written ({why}): the "
                  "command's messages there are lost; its work and exit code are not "
                  "affected", file=sys.stderr)
        # What stays buffered would fail again when Python flushes at exit (exit 120).
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._inner.fileno())
            os.close(devnull)


#: The error handler of a command's stdout and stderr (`tolerant_console`).
CONSOLE_ERRORS = "auditstream-console"


def _console_replace(exc: UnicodeError) -> tuple[str | bytes, int]:
    """A name's undecodable bytes (`surrogateescape`, as Python reads argv and file names)
    written back as they were, any other character the console cannot show as `\\xe9`."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    try:
        return codecs.lookup_error("surrogateescape")(exc)
    except UnicodeEncodeError:
        return codecs.lookup_error("backslashreplace")(exc)


codecs.register_error(CONSOLE_ERRORS, _console_replace)


def tolerant_console() -> None:
    """stdout and stderr never fail a command over a character their encoding lacks.

    Python's stdout is strict in any encoding it is given (`PYTHONIOENCODING=ascii`, a
    Windows-1252 or ISO-8859 locale, `LC_ALL=C` without UTF-8 mode): a summary naming
    `données.csv`, or a customer id in Cyrillic, raised UnicodeEncodeError after the work was
    done, exit 70. Such characters are now written as escapes (`donn\\xe9es.csv`)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors in (
                "strict", "surrogateescape", "backslashreplace"):
            stream.reconfigure(errors=CONSOLE_ERRORS)


def _expected(prog: str, func: Callable[[], int | None]) -> int:
    """`run_guarded` without its last resort: an expected failure's line and exit code; a
    bug raises. The AuditstreamError branch comes first: an `OutputError` is an OSError
    too, without errno."""
    try:
        return int(func() or 0)
    except AuditstreamError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        _notes(prog, exc)
        return int(exc.exit_code)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # the name given (or made from it), not a bug
            named = exc.filename2 if exc.filename2 is not None else exc.filename
            print(f"{prog}: error: cannot use {shown(named) if named is not None else 'a name'}"
                  ": the name is too long for the file system (at most 255 bytes a file or "
                  "folder name, 4,096 a path); choose a shorter one", file=sys.stderr)
            return int(ExitCode.USAGE)
        if not is_output_error(exc):
            raise
        out = as_output_error(exc)
        print(f"{prog}: error: {out}", file=sys.stderr)
        _notes(prog, exc)
        return int(out.exit_code)
    except SettingsError as exc:  # a list or object setting that is not JSON
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        print(f"{prog}: error: invalid setting: {exc}{cause}; a list or object setting is "
              "JSON, e.g. DETECTOR_CORE__RATE_WINDOWS_S='[60, 3600]'; fix the environment "
              "variable (README, Configuration)", file=sys.stderr)
        return int(ExitCode.USAGE)
    except ValidationError as exc:
        text = settings_error(exc)
        if text is None:  # a model built by the code itself: a bug
            raise
        print(f"{prog}: error: {text}", file=sys.stderr)
        return int(ExitCode.USAGE)
    except KeyboardInterrupt as exc:
        print(f"{prog}: interrupted", file=sys.stderr)
        _notes(prog, exc)
        return int(ExitCode.INTERRUPTED)


def _notes(prog: str, exc: BaseException) -> None:
    """A later failure met while the command wound down after `exc` (a rejects report
    the disk refused), one line each after the error's: the first error keeps the exit
    code, the later one is still said (`BaseException.add_note`)."""
    for note in getattr(exc, "__notes__", ()):
        print(f"{prog}: {note}", file=sys.stderr)


def number(kind: type[int] | type[float], least: float, *, strict: bool = False,
           most: float | None = None) -> Callable[[str], Any]:
    """An argparse type: `kind(text)` at least `least` (above it if `strict`) and at most
    `most` if given, else one usage line saying which (NaN is refused: no comparison holds
    for it)."""
    noun = "a whole number" if kind is int else "a number"
    if strict:
        bound = "positive" if least == 0 else f"above {least:g}"
    else:
        bound = "0 or more" if least == 0 else f"at least {least:g}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if not (value > least if strict else value >= least):
            raise argparse.ArgumentTypeError(f"must be {bound}, not {text}")
        if most is not None and not value <= most:
            raise argparse.ArgumentTypeError(f"must be at most {most}, not {text}")
        return value
    return parse


#: `-`, standard input or output to many tools: no command takes it (`score` and `replay`
#: hash and re-read their inputs, every output is written beside and renamed), so it is
#: refused as a name alike, never read or written as a file called `-` (was `generate --out
#: -`: exit 0, a file `-`; `score -` read such a file when there was one).
STDIO = "-"


def stdio_refused(noun: str) -> str:
    """The one line refusing `-` where `noun` ("a file", "a folder") is asked for: an
    option's (`input_file`, `file_name`, `folder_name`) and a setting's
    (`shared.settings.NamedPath`, `FileName`, `InputName`) alike."""
    return f"'-' (standard input or output) is not taken: name {noun} (./- for one named '-')"


def _not_stdio(text: str, noun: str) -> None:
    if text == STDIO:
        raise argparse.ArgumentTypeError(stdio_refused(noun))


def _not_blank(text: str, what: str) -> None:
    """Refuse an empty name (`Path` reads it as `.`: `replay ""` said "cannot read .") or
    one of blank space only (`--out " "` wrote a file named ` `)."""
    if not text:
        raise argparse.ArgumentTypeError(f"an empty name; give {what}")
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is only blank space; give {what}")


def input_file(text: str) -> Path:
    """An argparse type for a file to read (`score`, `replay`, `review import`): not `-`,
    empty or blank."""
    _not_stdio(text, "a file")
    _not_blank(text, "a file to read")
    return Path(text)


def optional_input(text: str) -> str:
    """An argparse type for a file to read that '' turns off (`dashboard screenshots
    --pbix ''`): `input_file`'s rule, the text kept."""
    if text:
        input_file(text)
    return text


def file_name(text: str) -> Path:
    """An argparse type for a file to write (`generate --out`): a name, not empty and not
    ending in `/`, `/.` or `/..`, which name a folder (`Path` drops them: `--out new/` wrote
    a file named `new`). An existing folder is refused later (`check_file_target`)."""
    _not_stdio(text, "a file")
    _not_blank(text, "a file name")
    if text.endswith("/") or text.rpartition("/")[2] in (".", ".."):  # `x/.`: `x` as well
        raise argparse.ArgumentTypeError(
            f"{shown(text)} names a folder (it ends in '/', '.' or '..'); give a file name, "
            f"such as {shown(text.rstrip('/') + '/data.csv')}")
    return Path(text)


def folder_name(text: str) -> Path:
    """An argparse type for a folder (`score --out`, `--exports`, `--rejects-dir`): not an
    empty name, which `Path` reads as `.` (`--out "$UNSET"` wrote the exports into the
    working folder, exit 0); `.` itself is taken."""
    _not_stdio(text, "a folder")
    if not text:
        raise argparse.ArgumentTypeError("an empty name; give a folder ('.' for this one)")
    return Path(text)


#: An argparse type for a partition count (`score --partitions`, `demo --partitions`): 1 to
#: Kafka's int32 bound, as `AUDITSTREAM_PARTITIONS` (`shared.settings.TopicSettings`).
partition_count = number(int, 1, most=MAX_PARTITIONS)


@contextlib.contextmanager
def port_in_use_is(message: str) -> Iterator[None]:
    """Within the block, binding a port another process holds is a `UsageError` saying
    `message` (which port, and the setting or flag to change), not an OSError traceback."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise UsageError(message) from None


@contextlib.contextmanager
def paths_named(settings: Mapping[str, Iterable[Path | None]]) -> Iterator[None]:
    """Within the block, a usage or output error (exit 2 or 5) about the path a setting gave
    names that environment variable first: `SINK_EXPORTS_DIR: afile is not a folder; ...`
    (before, the path alone, in a container where no option was typed). `settings`: each
    variable with the paths it gave (`None` for one not set)."""
    try:
        yield
    except AuditstreamError as exc:  # a CSV's, too: `CsvFormatError`
        if exc.exit_code not in (ExitCode.USAGE, ExitCode.OUTPUT_UNWRITABLE):
            raise
        text = str(exc)
        names = [name for name, paths in settings.items()
                 if any(path is not None and _names_path(text, path) for path in paths)]
        if names and not text.startswith(tuple(names)):
            exc.args = (f"{' and '.join(names)}: {text}", *exc.args[1:])
        raise


def _names_path(text: str, path: Path) -> bool:
    """Whether `text` holds `path` as a message shows it, as a whole name (`x/y` within
    `x/y/z` too, not within `ax/y`)."""
    return re.search(rf"(?<![\w.-]){re.escape(shown(path))}(?![\w.-])", text) is not None


def settings_error(exc: ValidationError) -> str | None:
    """One line naming each bad environment variable, when `exc` comes from settings."""
    cls = _settings_class(exc.title, BaseSettings)
    if cls is None:
        return None
    prefix = str(cls.model_config.get("env_prefix", ""))
    errors = exc.errors()
    locs = [tuple(e["loc"]) for e in errors]
    bad = [f"{_variable(prefix, loc)}: {e['msg']}" if loc else _own_words(e["msg"])
           for e, loc in zip(errors, locs, strict=True)
           # an error of a list whose item failed ("at least 1 item after validation") follows
           # from the item's own: the item's says it
           if not any(len(other) > len(loc) and other[:len(loc)] == loc for other in locs)]
    return f"invalid setting {'; '.join(bad)}; fix the environment variable (README, Configuration)"


def _own_words(msg: str) -> str:
    """The message of an error of several variables (a model validator's: no location),
    which starts with their names itself."""
    return msg.removeprefix("Value error, ")


def _variable(prefix: str, loc: tuple[int | str, ...]) -> str:
    """The environment variable of an error's location, an item of a list named by its
    place: `DETECTOR_CORE__RATE_WINDOWS_S (item 1)`, not a variable `..._S__0` nobody set."""
    names = "__".join(str(part) for part in loc if not isinstance(part, int))
    items = "".join(f" (item {part + 1})" for part in loc if isinstance(part, int))
    return f"{prefix}{names}".upper() + items


def _settings_class(name: str, base: type[BaseSettings]) -> type[BaseSettings] | None:
    for sub in base.__subclasses__():
        if sub.__name__ == name:
            return sub
        found = _settings_class(name, sub)
        if found is not None:
            return found
    return None


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
