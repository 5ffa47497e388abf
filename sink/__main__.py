"""`python -m sink [--exports DIR] [--once | --until-idle S] [--reset]`: run the sink."""

from __future__ import annotations

import argparse
import sys

from shared.cli import run_guarded, setup_logging
from sink.cli import DESCRIPTION, add_arguments, run_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sink", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging()
    return run_guarded("python -m sink", lambda: run_command(args))


if __name__ == "__main__":
    sys.exit(main())
