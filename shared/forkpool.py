"""Forked workers over data this process already holds: the input is inherited, not pickled.

`usable_cores()` says how many cores this process may use. `pool(job, n)` is a fork-context
`Pool` whose workers read `job` with `current_job()`; `start(job, func, *args)` runs one
forked `func(*args)` and `Forked.result()` waits for its return value. The job is held in
this module only while workers may be forked, then released. Fork only: spawned workers
would have to pickle the input, the cost this exists to avoid (callers check `can_fork()`
and run in-process otherwise).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.pool import Pool
from typing import Any

_JOB: Any = None


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS says, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    return "fork" in mp.get_all_start_methods()


def current_job() -> Any:
    """In a forked worker: the `job` its pool or `start` was given."""
    if _JOB is None:
        raise RuntimeError("current_job() outside a forked worker of shared.forkpool")
    return _JOB


@contextmanager
def _holding(job: object) -> Iterator[None]:
    global _JOB
    _JOB = job
    try:
        yield
    finally:
        _JOB = None


@contextmanager
def pool(job: object, processes: int) -> Iterator[Pool]:
    """A fork `Pool` of `processes` workers that all inherit `job`; terminated after the block.

    The job stays held for the block, so a worker the pool replaces inherits it too.
    """
    with _holding(job), mp.get_context("fork").Pool(processes) as workers:
        yield workers


def _call(func: Callable[..., Any], args: tuple[Any, ...], conn: Connection) -> None:
    conn.send(func(*args))
    conn.close()


class Forked:
    """One forked call in flight; `result()` receives its value and reaps the process."""

    def __init__(self, job: object, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        ctx = mp.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_call, args=(func, args, send), daemon=True)
        with _holding(job):
            self._proc.start()
        send.close()

    def result(self) -> Any:
        try:
            return self._recv.recv()
        finally:
            self._recv.close()
            self._proc.join()


def start(job: object, func: Callable[..., Any], *args: Any) -> Forked:
    """Run `func(*args)` in a forked process that inherits `job`."""
    return Forked(job, func, args)
