"""The `auditstream` command: one entry point, a subcommand per job, every part wired here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from shared import __version__
from shared.source_date import check_environment
from shared.startup import loading, stopped_starting


def build_parser() -> argparse.ArgumentParser:
    # Imported here, after `main` has checked SOURCE_DATE_EPOCH (shared.source_date).
    import producer.cli
    import sink.cli
    from auditstream import dashboard_cmd, demo, score
    from auditstream.broker import cli as broker_cli
    from auditstream.report import write_report_from_rollup
    from auditstream.review import cli as review_cli

    parser = argparse.ArgumentParser(
        prog="auditstream",
        description="Streaming anomaly detection for audit on Apache Kafka.",
    )
    parser.add_argument("--version", action="version", version=f"auditstream {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    broker_cli.register(sub)
    producer.cli.register(sub)
    score.register(sub)
    sink.cli.register(sub, on_rollup=write_report_from_rollup)
    dashboard_cmd.register(sub)
    demo.register(sub)
    review_cli.register(sub)
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
            parser = build_parser()  # imports every command's modules (~0.5 s; the engine later)
    except KeyboardInterrupt:  # stopped while starting: one line, the command's own code
        return _stopped_starting(sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    return run_guarded(f"auditstream {args.command}", lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
