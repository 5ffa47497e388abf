"""`python -m sink [--exports DIR] [--once | --until-idle S] [--reset]`: run the sink."""

from __future__ import annotations

import argparse
import logging
import sys

from shared.errors import AuditstreamError
from sink.cli import DESCRIPTION, add_arguments, run_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sink", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run_command(args)
    except AuditstreamError as exc:
        logging.getLogger("sink").error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
