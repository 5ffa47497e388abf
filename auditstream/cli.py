"""The `auditstream` command: one entry point, a subcommand per job, every part wired here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from shared import __version__
from shared.source_date import check_environment
from shared.startup import loading, stopped_starting

#: The module whose `register` adds each command, in `auditstream --help`'s order. A
#: command's start imports its own module alone (the others', e.g. producer's and the
#: sink's, cost ~0.17 s of CPU at every start); any other first word (none, --help, a
#: typo) builds the whole parser.
COMMANDS = {"broker": "auditstream.broker.cli", "generate": "producer.cli",
            "replay": "producer.cli", "score": "auditstream.score",
            "detect": "auditstream.score", "sink": "sink.cli",
            "dashboard": "auditstream.dashboard_cmd", "demo": "auditstream.demo",
            "review": "auditstream.review.cli"}


def _register(module: str, sub: Any) -> None:
    # Imported here, after `main` has checked SOURCE_DATE_EPOCH (shared.source_date).
    import importlib

    if module == "sink.cli":
        from auditstream.report import write_report_from_rollup
        from sink import cli as sink_cli

        sink_cli.register(sub, on_rollup=write_report_from_rollup)
    else:
        importlib.import_module(module).register(sub)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `command`'s module alone if it names one."""
    parser = argparse.ArgumentParser(
        prog="auditstream",
        description="Streaming anomaly detection for audit on Apache Kafka.",
    )
    parser.add_argument("--version", action="version", version=f"auditstream {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    mine = [COMMANDS[command]] if command in COMMANDS else dict.fromkeys(COMMANDS.values())
    for module in mine:
        _register(module, sub)
    return parser


#: Commands that end with 0 on SIGINT and SIGTERM alike (README, "Exit codes").
SERVICES = ("detect", "sink")


def _command(argv: list[str]) -> str:
    """The subcommand named by `argv` before it is parsed ("" when none: no top-level option
    takes a value, so the first word that is no option is it)."""
    return next((a for a in argv if not a.startswith("-")), "")


def _stopped_starting(argv: list[str]) -> int:
    """Ctrl-C or SIGTERM before the command ran: 0 for a service (as its stop), else 130."""
    command = _command(argv)
    if command in SERVICES:
        return stopped_starting(f"auditstream {command}", service=True)
    return stopped_starting("auditstream", service=False)


def main(argv: Sequence[str] | None = None) -> int:
    # Only the standard library is loaded so far: a stop from here on is the command's own.
    try:
        with loading():  # Ctrl-C and SIGTERM held until loaded, then as a stop
            from shared.entry import run_guarded, setup_logging  # pydantic: ~0.3 s

            # before the parser, which imports numpy: named `auditstream COMMAND` all the same
            command = _command(sys.argv[1:] if argv is None else list(argv))
            prog = f"auditstream {command}" if command else "auditstream"
            if refused := run_guarded(prog, check_environment):
                return refused
            parser = build_parser(command)  # the command's own modules (the engine later)
    except KeyboardInterrupt:  # stopped while starting: one line, the command's own code
        return _stopped_starting(sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    return run_guarded(f"auditstream {args.command}", lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
