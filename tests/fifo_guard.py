"""A call that may wait for ever on a FIFO, run so that a hang fails the test instead."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


def within(seconds: float, fifo: Path | None, call: Callable[[], Any], *,
           writes: bool = False) -> Any:
    """`call()`'s result or exception, failing the test if it still waits after `seconds`:
    then the FIFO `fifo` is released (a writer opened for a reader, or it is read to its end
    for a writer, `writes`) so the thread ends before the failure is reported."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = call()
        except BaseException as exc:  # handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if fifo is not None and writes:
            with open(fifo, "rb") as drain:
                drain.read()
        elif fifo is not None:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail(f"still waiting after {seconds} s (a FIFO {'written' if writes else 'read'}"
                    " for ever)")
    if "error" in out:
        raise out["error"]
    return out["value"]


class Hung(BaseException):
    """Not an OSError (nor an Exception): no handler of the code under test takes it."""


@contextmanager
def alarm(seconds: int, name: str) -> Iterator[None]:
    """Run the block in this (the main) thread; a read still waiting after `seconds` (a FIFO
    put at `name`) raises `Hung` there instead of hanging the test run."""
    def hung(*_: object) -> None:
        raise Hung(f"waited {seconds} s on the FIFO put at {name}")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
