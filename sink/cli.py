"""`auditstream sink` (and `python -m sink`): append `transactions.scored` to the exports."""

from __future__ import annotations

import argparse
from typing import Any

from shared.entry import folder_name, number, paths_named
from shared.names import shown
from shared.settings import MAX_WAIT_S, env_name
from sink.app import run
from sink.exports import OnRollup
from sink.settings import SinkSettings

DESCRIPTION = (
    "Consume transactions.scored and keep the exports folder up to date, exactly once: "
    "scored/transactions_scored_YYYY-MM-DD.csv (also transactions_scored.csv with "
    "EXPORTS_SINGLE_FILE=true), thresholds.csv, metrics_by_type.csv, confusion_matrix.csv, "
    "cases.csv, status.csv, run.json. Settings come from SINK_*, EXPORTS_*, KAFKA_* variables."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exports", type=folder_name, metavar="DIR",
                   help="exports folder (default: SINK_EXPORTS_DIR or ./exports): a folder "
                   "of its own; one without exports that holds files at export names "
                   "(your own cases.csv, report.html) is refused, exit 2")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--once", action="store_true",
                      help="stop as soon as every partition is drained")
    # at most a day, as every wait setting (`MAX_WAIT_S`): 1e309 was a sink never stopping
    stop.add_argument("--until-idle", type=number(float, 0, most=MAX_WAIT_S),
                      metavar="SECONDS", help="stop once drained and no message came for "
                      "SECONDS (at most 86400)")
    p.add_argument("--reset", action="store_true",
                   help="discard this folder's sink checkpoint and rows, start from offset 0")
    p.set_defaults(func=run_command)


def register(subparsers: Any, on_rollup: OnRollup | None = None) -> None:
    """`auditstream sink`; `on_rollup` runs after each rollup refresh (see `sink.app.run`)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "sink", help="write transactions.scored to CSV exports (exactly once) with rollups",
        description=DESCRIPTION,
    )
    add_arguments(p)
    p.set_defaults(func=lambda args: run_command(args, on_rollup))


def run_command(args: argparse.Namespace, on_rollup: OnRollup | None = None) -> int:
    overrides: dict[str, Any] = {}
    if args.exports is not None:
        overrides["exports_dir"] = args.exports
    settings = SinkSettings(**overrides)
    # the folder's errors name SINK_EXPORTS_DIR when it gave the folder (none typed)
    given = [] if overrides else [settings.exports_dir]
    with paths_named({env_name(SinkSettings, "exports_dir"): given}):
        result = run(settings, once=args.once, until_idle=args.until_idle, reset=args.reset,
                     on_rollup=on_rollup)
    print(f"sink: {result.rows} rows appended ({result.total_rows} in "
          f"{shown(settings.exports_dir)}), "
          f"{result.rejected} rejected, {result.seconds:.1f} s")
    return 0
