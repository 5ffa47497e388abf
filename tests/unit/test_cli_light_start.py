"""The `auditstream` command's parser, and so `auditstream --help` and every command's start,
loads no detection engine: the engine brings scikit-learn and numba (~1 s), which only the
commands that score need, when they run. Before: `--help` took 1.6 s, 0.7 s after. Nor
pandas (~0.3 s of CPU), which only `dashboard sample --synthetic` needs."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from auditstream.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import auditstream.cli
auditstream.cli.build_parser()
import detector.core
print(sorted(m for m in ("sklearn", "numba", "detector.core.engine", "detector.offline",
                         "detector.app", "pandas") if m in sys.modules))
from detector.core import PartitionEngine  # still there, on first use
print(PartitionEngine.__module__)
"""


def test_the_parser_loads_no_engine_and_the_engine_is_there_when_asked() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("AUDITSTREAM_CORE", None)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    assert out == ["[]", "detector.core.engine"]


SCORING_PROBE = """
import sys
import numpy as np
import detector.offline, detector.core.engine, detector.core.stateformat
print("sklearn" in sys.modules)
from detector.core.config import CoreConfig
from detector.core.model import fit_rows
rows = np.arange(64, dtype=np.float32).reshape(16, 4)
print(fit_rows(rows, 1, CoreConfig()).version, "sklearn" in sys.modules)
"""


def test_scoring_loads_scikit_learn_at_its_first_fit_not_at_its_start() -> None:
    """A `score` or a detector whose partitions never reach a fit point (a small input)
    needs no forest: scikit-learn and the scipy it loads (~1 s of CPU) wait for the first
    fit. Before: `import detector.core.engine` loaded it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCORING_PROBE], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    assert out == ["False", "if-v1 True"]


COMMAND_PROBE = """
import contextlib, io, sys
import auditstream.cli
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    auditstream.cli.main(["score", "--help"])
print(sorted(m for m in ("producer.cli", "sink.app", "auditstream.demo", "auditstream.review.cli",
                         "auditstream.dashboard_cmd", "confluent_kafka") if m in sys.modules))
"""


def test_a_commands_start_loads_no_other_commands_modules() -> None:
    """`auditstream score` (and `detect`) build the parser of their own module only: the
    producer's, the sink's, the demo's modules and the Kafka client cost ~0.17 s of CPU at
    each start. Before: all of them loaded."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", COMMAND_PROBE], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    assert out == ["[]"]


def _choices(parser: argparse.ArgumentParser) -> set[str]:
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def test_every_command_is_mapped_to_the_module_that_registers_it() -> None:
    """`COMMANDS` names every command of the whole parser, and the parser built for one
    command alone holds it (a command added to a module but not to the map would be
    'invalid choice' when named)."""
    assert _choices(build_parser()) == set(COMMANDS)
    for command in COMMANDS:
        assert command in _choices(build_parser(command))
    assert _choices(build_parser("no-such-command")) == set(COMMANDS)
