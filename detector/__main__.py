"""`python -m detector`: load settings from the environment and run the streaming detector."""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys

from detector.app import run_service
from detector.settings import DetectorSettings
from shared.errors import AuditstreamError


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # `kill -USR1 <pid>` prints every thread's stack: where is a stuck detector waiting?
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        return run_service(DetectorSettings())
    except AuditstreamError as exc:
        logging.getLogger("detector").error("detector stopped: %s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
