"""`auditstream generate` and `auditstream replay` (this CLI prints for people)."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from producer.anomalies import ANOMALY_TYPES
from producer.app import publish, to_record
from producer.extended import write_changes
from producer.generator import (
    DEFAULT_RATES,
    GeneratorConfig,
    Shortfall,
    generate_all,
    mix_config,
)
from producer.naming import Naming, OptionsRefused, as_option
from producer.pacing import Progress
from producer.reference_recipe import ReferenceConfig, generate_reference
from producer.replay import EXIT_OK, EXIT_UNDELIVERED, run_replay
from producer.settings import MAX_PACE, MIN_RATE, ProducerSettings, as_setting, plain_date
from shared.codec import describe_validation_error
from shared.csv_io import write_transactions_csv
from shared.entry import file_name, folder_name, input_file, number
from shared.errors import ExitCode, UsageError
from shared.names import shown
from shared.outputs import check_file_target, check_folder_of, output_errors
from shared.schemas import Transaction
from shared.seeds import seed_arg
from shared.startup import sigterm_interrupts


def _date(text: str) -> datetime:
    """A plain YYYY-MM-DD (`producer.settings.plain_date`)."""
    try:
        return datetime.combine(plain_date(text), datetime.min.time())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    if name.upper() not in ANOMALY_TYPES:
        known = ", ".join(ANOMALY_TYPES)
        raise argparse.ArgumentTypeError(f"unknown type {name!r}; known: {known}")
    try:
        return name.upper(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad rate in {text!r} (use TYPE=0.003)") from None


#: The generator's knobs whose errors name them in its own words (`tx_per_customer_day must
#: be positive`) where the user typed a flag (`--tx-per-day`); `customers` and `days` are
#: words of its prose too, and read as the flags.
KNOB_FLAGS = {"tx_per_customer_day": "--tx-per-day", "traveller_share": "--traveller-share",
              "travel_gap_hours": "--travel-gap-hours",
              "duplicate_window_minutes": "--duplicate-window-minutes",
              "anomaly rates": "--anomaly-rate rates"}


def in_flags(message: str) -> str:
    """A generator error in the words of the command line: each knob named by its flag (a
    flag already there left as it is)."""
    for knob, flag in KNOB_FLAGS.items():
        message = re.sub(rf"(?<![-\w]){re.escape(knob)}\b", flag, message)
    return message


#: A pace (--rate at least `MIN_RATE`, --speed above 0), at most `MAX_PACE`, as the settings.
_pace_rate = number(float, MIN_RATE, most=MAX_PACE)
_positive = number(float, 0, strict=True, most=MAX_PACE)


def register(subparsers: Any) -> None:
    g = subparsers.add_parser("generate", help="seeded synthetic payments with labelled anomalies")
    g.add_argument("--recipe", choices=("realistic", "reference"), default="realistic",
                   help="realistic: habit-breaking anomalies; reference: the reference project's")
    g.add_argument("--mix", choices=("default", "extended"), default="default",
                   help="realistic recipe: the six types (default), or also account takeover, "
                        "card testing, split payments, dormant reactivation and legitimate "
                        "habit changes (extended)")
    g.add_argument("--changes-out", type=file_name,
                   help="extended mix: write the legitimate habit changes here (a sidecar CSV: "
                        "customer_id, change, start, end), for measuring false alarms")
    g.add_argument("--seed", type=seed_arg, default=42, help="0 to 2^32 - 1 (default 42)")
    g.add_argument("--customers", type=int, help="default 1000 (reference: 200)")
    g.add_argument("--days", type=int, default=90, help="default 90")
    g.add_argument("--start", type=_date, default=datetime(2025, 1, 1),
                   help="YYYY-MM-DD, the first day (default 2025-01-01)")
    # no argparse default for the knobs of one recipe: one given to the other is refused
    g.add_argument("--tx-per-day", type=float,
                   help="realistic: mean transactions per customer per day (default 2.2)")
    g.add_argument("--transactions", type=int, help="reference: base row count (default 8000)")
    g.add_argument("--anomaly-rate", type=_rate, action="append", default=[],
                   metavar="TYPE=RATE", help="share of all rows for one type (realistic)")
    g.add_argument("--traveller-share", type=float, help="realistic (default 0.15)")
    g.add_argument("--travel-gap-hours", type=float, help="realistic (default 4)")
    g.add_argument("--duplicate-window-minutes", type=float, help="realistic (default 10)")
    g.add_argument("--out", type=file_name,
                   help="write the historic CSV layout to this file (not a folder)")
    g.add_argument("--publish", action="store_true", help="send to the transactions topic")
    g.set_defaults(func=cmd_generate)

    r = subparsers.add_parser(
        "replay", help="publish historic CSV files to the transactions topic",
        description="Publish historic-layout CSV files to the transactions topic in timestamp "
        "order, keyed by customer_id. Rows that cannot be read go, with their line and "
        "reason, to <name>.rejects.csv beside each input (or in --rejects-dir), as `score` "
        "does. Exit 0: every row sent; 1: rows rejected, the rest sent; 2: bad file, usage, "
        "--strict with bad rows (nothing sent), no row to send (header only, or every row "
        "rejected: nothing sent), or a file written to while it was read or "
        "sent (docs/producer.md); 3: messages not delivered; 4: no broker answered; 5: a "
        "rejects report cannot be written; 130: interrupted.")
    r.add_argument("files", nargs="+", type=input_file, metavar="FILE.csv")
    pace = r.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=_pace_rate,
                      help="messages/s, at least 1/3600 (default: as fast as possible)")
    pace.add_argument("--speed", type=_positive,
                      help="event-time speed-up (60 = one hour per minute)")
    r.add_argument("--strict", action="store_true", help="any bad row is fatal; nothing is sent")
    r.add_argument("--rejects-dir", type=folder_name,
                   help="where <name>.rejects.csv go (default: beside)")
    r.set_defaults(func=cmd_replay)


#: The knobs of one recipe and their defaults: `--transactions` the reference recipe's, the
#: others the realistic one's.
RECIPE_KNOBS = {"transactions": 8000, "tx_per_day": 2.2, "traveller_share": 0.15,
                "travel_gap_hours": 4.0, "duplicate_window_minutes": 10.0}


def make_transactions(args: argparse.Namespace) -> list[Transaction]:
    for knob, default in RECIPE_KNOBS.items():  # those not given (None): their defaults
        if getattr(args, knob) is None:
            setattr(args, knob, default)
    if args.customers is None:  # the recipe's default (a refusal quotes it)
        args.customers = 200 if args.recipe == "reference" else 1000
    if args.recipe == "reference":
        return generate_reference(ReferenceConfig(
            seed=args.seed, transactions=args.transactions, customers=args.customers,
            days=args.days, start=args.start,
        ))
    knobs = {"seed": args.seed, "customers": args.customers, "days": args.days,
             "start": args.start, "tx_per_customer_day": args.tx_per_day,
             "traveller_share": args.traveller_share, "travel_gap_hours": args.travel_gap_hours,
             "duplicate_window_minutes": args.duplicate_window_minutes}
    if args.mix == "default" and args.changes_out is None:
        cfg = GeneratorConfig(**knobs, rates={**DEFAULT_RATES, **dict(args.anomaly_rate)})
    else:
        cfg = mix_config(args.mix, **knobs)
        if args.anomaly_rate:
            cfg = replace(cfg, rates={**cfg.rates, **dict(args.anomaly_rate)})
    txs, changes, short = generate_all(cfg)
    if (entry := warned_as(args)) is not None:
        for s in short:  # the data is still whole and labelled: a warning, not a failure
            print(shortfall_line(s, len(txs), entry), file=sys.stderr)
    if args.changes_out is not None:
        with output_errors(args.changes_out, "nothing written"):  # a failed write names no file
            write_changes(args.changes_out, changes, cfg.start,
                          [str(i + 1) for i in range(cfg.customers)])
        print(f"wrote {shown(args.changes_out)} ({len(changes)} legitimate changes)",
              file=sys.stderr)
    return txs


def _larger(name: Naming) -> str:
    return f"{name('--customers')} or {name('--days')}"


#: Who warns, and what a larger run is asked by: `auditstream generate`'s options, or the
#: settings of `python -m producer` (the container), which has no options.
CLI_ENTRY = ("auditstream generate", _larger(as_option))
CONTAINER_ENTRY = ("python -m producer", _larger(as_setting))
#: `auditstream demo`, which has --customers and --days but no --anomaly-rate.
DEMO_ENTRY = ("auditstream demo", _larger(as_option))


#: Set to 1 by `auditstream demo` in the environment of the `generate --publish` it runs:
#: that child's shortfall warnings are the demo's (its name, its options), which the demo
#: shows.
DEMO_ENV = "AUDITSTREAM_GENERATE_FOR_DEMO"


def warned_as(args: argparse.Namespace) -> tuple[str, str] | None:
    """Who a shortfall warning names: `args.entry` when set (None: no warning, given
    already), else the demo's when run by it (`DEMO_ENV`), else `auditstream generate`."""
    if hasattr(args, "entry"):
        return args.entry  # type: ignore[no-any-return]
    return DEMO_ENTRY if os.environ.get(DEMO_ENV) == "1" else CLI_ENTRY


def shortfall_line(s: Shortfall, rows: int, entry: tuple[str, str] = CLI_ENTRY) -> str:
    """One warning line: the type, what its rate asked, what was placed, how to get more."""
    name, size = entry
    lower = (f", or a lower --anomaly-rate {s.kind}=RATE"
             if s.kind in ANOMALY_TYPES and entry == CLI_ENTRY else "")
    return (f"{name}: warning: {s.kind}: {s.placed:,} rows "
            f"({s.placed / max(1, rows):.2%} of {rows:,}), not the {s.asked:,} its rate "
            f"{s.rate:.2%} asks: too few customers with the history, habits or free time it "
            f"needs; give more {size}{lower} (docs/producer.md, Anomaly rates)")


def _generate_and_write(args: argparse.Namespace, name: Naming) -> list[Transaction]:
    started = time.monotonic()
    rate_given = args.tx_per_day is not None  # the container fixes it: never named there
    try:
        txs = make_transactions(args)
    except ValidationError as exc:  # a generated row out of the schema: one line, not three
        hint = (f"; choose {name('--start')} and {name('--days')} so every day falls in "
                "1970-2100" if any(e["loc"][:1] == ("timestamp",) for e in exc.errors())
                else "")
        raise UsageError(f"a generated transaction's {describe_validation_error(exc)}{hint}"
                         ) from None
    except OptionsRefused as exc:
        raise UsageError(exc.words(name)) from None
    except ValueError as exc:
        raise UsageError(in_flags(str(exc))) from None
    if not txs:  # the realistic recipe's draw only: the reference one has its base rows
        higher = f", or a higher {name('--tx-per-day')}" if rate_given else ""
        raise UsageError(f"these settings generate no transaction "
                         f"({name('--customers', str(args.customers))} and "
                         f"{name('--days', str(args.days))} at {args.tx_per_day:g} rows a "
                         f"customer-day); give more {_larger(name)}{higher}; nothing written")
    anomalies = sum(1 for t in txs if t.is_anomaly)
    print(f"generated {len(txs):,} transactions ({anomalies:,} anomalies, "
          f"{anomalies / max(1, len(txs)):.2%}) in {time.monotonic() - started:.1f} s",
          file=sys.stderr)
    if args.out is not None:
        written = ("nothing written" if args.changes_out is None
                   else f"only {shown(args.changes_out)} written")
        with output_errors(args.out, written):  # a failed write names no file
            write_transactions_csv(txs, args.out)
        print(f"wrote {shown(args.out)}", file=sys.stderr)
    return txs


def _flag(knob: str) -> str:
    return "--" + knob.replace("_", "-")


def _options_of_the_recipe(args: argparse.Namespace, name: Naming) -> None:
    """Refuse an option the chosen recipe or mix would ignore (it was ignored without a word:
    `--recipe reference --mix extended` gave the reference data, `--changes-out` with the
    default mix an empty sidecar, `--transactions 10` the realistic recipe's rows; hostile
    probes)."""
    if args.recipe == "reference":
        given = [flag for flag, on in (("--mix", args.mix != "default"),
                                       ("--anomaly-rate", bool(args.anomaly_rate)),
                                       ("--changes-out", args.changes_out is not None)) if on]
        given += [_flag(k) for k in RECIPE_KNOBS
                  if k != "transactions" and getattr(args, k) is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise UsageError(f"{' and '.join(map(name, given))} {verb} to the realistic "
                             f"recipe, not {name('--recipe', 'reference')} (its mix is the "
                             "reference project's)")
    elif args.transactions is not None:
        raise UsageError(f"{name('--transactions')} applies to {name('--recipe', 'reference')}"
                         f"; the realistic recipe's rows come from {name('--customers')}, "
                         f"{name('--days')} and {name('--tx-per-day')}")
    elif args.changes_out is not None and args.mix != "extended":
        raise UsageError(f"{name('--changes-out')} needs {name('--mix', 'extended')}: the "
                         "default mix has no legitimate habit changes to write")


def cmd_generate(args: argparse.Namespace) -> int:
    # how its refusals name the options: the command line's, or the container's settings
    name: Naming = getattr(args, "naming", as_option)
    if args.out is None and not args.publish:
        raise UsageError(f"nothing to do: give {name('--out', 'FILE.csv')} and/or "
                         f"{name('--publish')}")
    for path in (args.out, args.changes_out):
        if path is not None:  # before generating, which can take minutes
            check_file_target(path)
            check_folder_of(path)
    _options_of_the_recipe(args, name)
    if (args.out is not None and args.changes_out is not None
            and args.out.resolve() == args.changes_out.resolve()):
        raise UsageError(f"{name('--changes-out')} and {name('--out')} both name "
                         f"{shown(args.out)}: one would replace the other; give two files")
    # SIGTERM: as Ctrl-C (exit 130), no temporary file left behind, what was handed to
    # Kafka flushed and counted (`docker compose stop` sends it to `python -m producer`)
    with sigterm_interrupts():
        txs = _generate_and_write(args, name)
        if not args.publish:
            return int(EXIT_OK)
        progress = Progress(len(txs), sys.stderr)
        report = publish((to_record(t) for t in txs), ProducerSettings(), len(txs),
                         progress=progress)
    print(f"sent {report.delivered:,} of {len(txs):,} in {report.elapsed:.2f} s "
          f"({report.rate:,.0f} rows/s)", file=sys.stderr)
    if report.undelivered or report.interrupted:
        print(f"UNDELIVERED {report.undelivered + len(txs) - report.sent:,} message(s)",
              file=sys.stderr)
    if report.interrupted:
        return int(ExitCode.INTERRUPTED)
    # the topic's Write taken back while it sent: its one line after the summary, exit 2,
    # as replay's (before: exit 3, the UNDELIVERED line alone, no right named)
    if (refusal := report.refused_error(len(txs), "a run with the same settings")) is not None:
        raise refusal
    return int(EXIT_UNDELIVERED if report.undelivered else EXIT_OK)


def cmd_replay(args: argparse.Namespace) -> int:
    with sigterm_interrupts():  # SIGTERM: as Ctrl-C, flushed, its summary, exit 130
        summary = run_replay(
            args.files, ProducerSettings(), rate=args.rate, speed=args.speed,
            strict=args.strict, rejects_dir=args.rejects_dir,
        )
    for line in summary.lines():
        print(line, file=sys.stderr)
    if (error := summary.changed_error()) is not None:
        raise error  # its one line after the summary, exit 2
    if (refusal := summary.refused_error()) is not None:
        raise refusal  # likewise
    return int(summary.exit_code)
