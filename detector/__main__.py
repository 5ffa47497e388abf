"""`python -m detector`: load settings from the environment and run the streaming detector."""

from __future__ import annotations

import faulthandler
import signal
import sys

from detector.app import run_service
from detector.partition import Hook
from detector.settings import DetectorSettings
from shared.entry import run_guarded, setup_logging


def main(hook: Hook | None = None) -> int:
    """`hook`: the fault-injection seam, for tests that run the detector with faults."""
    setup_logging()
    # `kill -USR1 <pid>` prints every thread's stack: where is a stuck detector waiting?
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    return run_guarded("python -m detector", lambda: run_service(DetectorSettings(), hook))


if __name__ == "__main__":
    sys.exit(main())
