"""`python -m detector`: load settings from the environment and run the streaming detector."""

from __future__ import annotations

import argparse
import faulthandler
import signal
import sys
from typing import TYPE_CHECKING

from shared.source_date import check_environment
from shared.startup import loading, stopped_starting

if TYPE_CHECKING:
    from detector.partition import Hook


DESCRIPTION = ("Consume transactions, score them exactly once and publish transactions.scored. "
               "Takes no arguments: settings come from DETECTOR_*, KAFKA_* and AUDITSTREAM_* "
               "variables (README, Configuration; docs/detector.md).")


def main(argv: list[str] | None = None, hook: Hook | None = None) -> int:
    """`hook`: the fault-injection seam, for tests that run the detector with faults.

    Arguments are parsed first: `--help` (or a stray one, exit 2) never starts a detector."""
    argparse.ArgumentParser(prog="python -m detector", description=DESCRIPTION).parse_args(argv)
    try:  # a stop while the modules load (a second or two): one line and 0, as its stop
        with loading():  # Ctrl-C and SIGTERM held until loaded, then as a stop
            from shared.entry import run_guarded, setup_logging

            setup_logging()
            # `kill -USR1 <pid>` prints every thread's stack: where is a stuck detector waiting?
            faulthandler.register(signal.SIGUSR1, all_threads=True)
            if refused := run_guarded("python -m detector", check_environment):
                return refused
            # after the check: importing the core imports scipy, which reads SOURCE_DATE_EPOCH
            from detector.app import run_service
            from detector.settings import DetectorSettings
    except KeyboardInterrupt:
        return stopped_starting("python -m detector", service=True)
    return run_guarded("python -m detector", lambda: run_service(DetectorSettings(), hook))


if __name__ == "__main__":
    sys.exit(main())
