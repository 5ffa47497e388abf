"""The one loop that waits out a Kafka cluster out of reach: a step tried again while its
error is worth waiting for, for a whole wait, then one exit-4 error that names the wait.

Used by the detector's start-up, rewinds and producer replacement (which errors are an
outage: `detector.outage`) and by the sink's start-up and assignment. Which errors are worth
waiting for, and how giving up is phrased, are the caller's (`exit_4`, `unreachable_after`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import KafkaError, KafkaException

from shared.errors import KafkaUnreachableError
from shared.kafka import unreachable, why
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The pause between two tries.
PAUSE_S = 1.0
#: How a wait gives up: the error to raise for (the last error, the whole wait).
GiveUp = Callable[[Exception, float], Exception]


def retry_within(call: Callable[[float], T], waitable: Callable[[Exception], bool],
                 wait_s: float, give_up: GiveUp, doing: str,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 stopping: Callable[[], bool] = lambda: False, once: bool = False) -> T:
    """`call(seconds_left)`, tried again while it fails with a `waitable` error, for `wait_s`
    in all; such an error at the end of the wait is raised as `give_up(error, wait_s)` (as
    it is when `give_up` returns it), any other error as it is, at once.

    The first try is always made (a wait already spent still gets one). A stop asked
    meanwhile (`stopping`) raises the error without another try; a signal handler that
    raises ends the pause at once. `once`: only the first "retrying" line is a warning, the
    others debug (a wait with no news of its own to tell per try)."""
    deadline = clock() + wait_s
    level = logging.WARNING
    while True:
        try:
            return call(max(deadline - clock(), 0.1))
        except Exception as exc:
            if not waitable(exc) or stopping():
                raise
            if clock() >= deadline:
                final = give_up(exc, wait_s)
                if final is exc:
                    raise
                raise final from exc
            log.log(level, "%s: %s; retrying (for %.0f s more)", doing, exc,
                    max(deadline - clock(), 0))
            if once:
                level = logging.DEBUG
            sleep(PAUSE_S)
            if stopping():
                raise


def exit_4(kafka: KafkaSettings, setting: str | None, doing: str) -> GiveUp:
    """The give-up of a wait (that `setting` sets, if one does): "no Kafka broker answered"
    when none did, else the outage's last error; both with the whole wait."""
    def give_up(exc: Exception, waited: float) -> Exception:
        if isinstance(exc, KafkaUnreachableError):
            return unreachable(kafka, waited, last_error(exc), setting)
        return unreachable_after(exc, doing, waited, setting)
    return give_up


def unreachable_after(exc: BaseException, doing: str, waited: float,
                      setting: str | None = None) -> KafkaUnreachableError:
    """The exit-4 error of an outage that outlasted its wait (`setting`, when one says so)."""
    return KafkaUnreachableError(
        f"{doing}: the Kafka cluster could not be reached for {waited:.0f} s"
        f"{why(setting, last_error(exc))}; a restart resumes exactly once, when the cluster "
        "is back")


def last_error(exc: BaseException) -> str:
    """What a step's error says, for an exit-4 line: librdkafka's text, or the last error
    of a `KafkaUnreachableError`'s own wait."""
    if isinstance(exc, KafkaUnreachableError) and exc.detail:
        return exc.detail
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else exc
    return err.str() if isinstance(err, KafkaError) else str(err)
