"""How every entry point starts: Ctrl-C or SIGTERM while a command still loads its modules
(a second or more: pydantic, pandas, scikit-learn) ends it with one line and its own exit
code, not a traceback nor death by the signal.

Standard library only (with `shared.errors`), so that an entry point can be in force
before anything slow is imported; `shared.entry` says how commands end.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

from shared.errors import ExitCode


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def batch_stops() -> tuple[int, ...]:
    """The signals besides SIGINT that end a batch command as Ctrl-C does: SIGTERM, and
    SIGHUP (its terminal closed) unless it is ignored (`nohup`: the command outlives its
    terminal). SIGHUP killed the command where it stood, exit 129: `generate --out` left its
    temporary file, `replay` no summary."""
    hangup = getattr(signal, "SIGHUP", None)  # POSIX only
    if hangup is None or signal.getsignal(hangup) is signal.SIG_IGN:
        return (signal.SIGTERM,)
    return (signal.SIGTERM, hangup)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block SIGTERM (and SIGHUP: `batch_stops`) ends a batch command as Ctrl-C
    does (`KeyboardInterrupt`: its files' cleanup runs, exit 130) rather than killing it
    where it stands (temporary files left behind). In the main thread only (the only one
    that receives signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _interrupt) for s in batch_stops()}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


_STOPS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """The block in which a command loads its modules: Ctrl-C and SIGTERM are only noted
    there and, if one came, raise `KeyboardInterrupt` at its end.

    Raised in the middle of an extension's own start, a KeyboardInterrupt was that
    extension's failure: pydantic-core panicked ("failed to import datetime C API", exit
    1), or the interrupt was swallowed ("Exception ignored in ...") and the command ran on
    (a hostile probe, 40 signals 0.1-0.6 s after the start). A handler that only notes the
    signal, not a blocked signal mask: a thread some import started would still take a
    signal sent to the process. Outside the main thread it is `sigterm_interrupts`."""
    if threading.current_thread() is not threading.main_thread():
        with sigterm_interrupts():
            yield
        return
    came: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        came.append(signum)

    previous = {s: signal.signal(s, note) for s in _STOPS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if came:
        raise KeyboardInterrupt


def stopped_starting(prog: str, *, service: bool) -> int:
    """Ctrl-C or SIGTERM before the command ran (README, "Exit codes"): its one line, and 0
    for a service (`detect`, `sink`: their stop) or 130 for any other command."""
    if service:
        print(f"{prog}: stopped before it started", file=sys.stderr)
        return int(ExitCode.OK)
    print(f"{prog}: interrupted", file=sys.stderr)
    return int(ExitCode.INTERRUPTED)
