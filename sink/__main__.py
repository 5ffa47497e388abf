"""`python -m sink [--exports DIR] [--once | --until-idle S] [--reset]`: run the sink."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from shared.startup import loading, stopped_starting

if TYPE_CHECKING:
    from sink.exports import OnRollup

#: The installed distribution names the sink's rollup listener here (pyproject.toml:
#: auditstream's report writer), so this entry point wires it without importing it.
LISTENER_GROUP = "auditstream.sink"


def rollup_listener() -> OnRollup | None:
    """The `on_rollup` entry point the installed distribution declares, if any."""
    found = entry_points(group=LISTENER_GROUP, name="on_rollup")
    return next(iter(found)).load() if found else None


def main(argv: list[str] | None = None) -> int:
    try:  # a stop while the modules load (a second): one line and 0, as its stop
        with loading():  # Ctrl-C and SIGTERM held until loaded, then as a stop
            from shared.entry import run_guarded, setup_logging
            from sink.cli import DESCRIPTION, add_arguments, run_command

            parser = argparse.ArgumentParser(prog="python -m sink", description=DESCRIPTION)
            add_arguments(parser)
    except KeyboardInterrupt:
        return stopped_starting("python -m sink", service=True)
    args = parser.parse_args(argv)
    setup_logging()
    return run_guarded("python -m sink", lambda: run_command(args, rollup_listener()))


if __name__ == "__main__":
    sys.exit(main())
