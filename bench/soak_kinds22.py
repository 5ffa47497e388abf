"""bench/chaos_soak.py's event kinds of the twenty-second session (seeds `KINDS_FROM` on):
what an operator or a user does to a stopped service.

- `damage_day_file`: the sink stopped (kill -9, or SIGTERM: exit 0 required) and one of
  its day files deleted or cut inside what its checkpoint vouches for (a user tidying
  `scored/`, a sync tool, a restore of an older copy). Its next start must refuse in one
  line, exit 2, naming the file (`RESTORE_OR_RESET`), never resume over the gap; then the
  operator either puts the file back (a copy kept before the damage) or starts it once
  with `--reset` (the folder rebuilt from the scored topic), and it must go on exactly once.
- `reset_offsets`: every detector stopped (SIGTERM, exit 0 required) and the detectors'
  group offsets reset to the input's earliest (`kafka-consumer-groups --reset-offsets
  --to-earliest --execute`, done here through the admin API), once every partition has a
  checkpoint. A detector started then must refuse in one line, exit 2 (`OFFSETS_RESET`):
  its checkpoints are ahead of the offsets, and scoring the input again would put every row
  on the scored topic twice. The operator then sets the offsets back to those saved
  before the reset and starts the detectors again: every row once.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.errors import ExitCode

if TYPE_CHECKING:
    from chaos_soak import Chaos

    from tests.integration.pipeline_harness import Service

KINDS = {"damage_day_file": 2, "reset_offsets": 2}
KINDS_FROM = 860
#: The sink's checkpoint file and the day files' folder in it (`sink.state`, `sink.days`).
STATE_FILE = ".sink-state.json"
SCORED_DIR = "scored/"
#: What the sink's refusal of a damaged day file must say (`sink.state.cut_to_checkpoint`).
RESTORE_OR_RESET = "restore it, or start again with --reset"
#: What a detector's refusal of offsets behind its checkpoints must say (`detector.recovery`).
OFFSETS_RESET = "offsets were reset"
#: How long a refusing start is given to exit (a detector's start loads its core first).
REFUSAL_WAIT_S = 180.0
#: The longest wait (supervised) for every partition's first checkpoint, for pauses to end.
CHECKPOINT_WAIT_S = 60.0
PAUSES_WAIT_S = 90.0
#: How long the group is given to be empty (members that left) before the reset.
EMPTY_WAIT_S = 60.0


def committed_days(state: Mapping[str, Any]) -> dict[str, int]:
    """The day files a sink checkpoint (`state`, its JSON) vouches for, by name in the folder,
    with the bytes it vouches for (more than none)."""
    lengths = state.get("lengths")
    if not isinstance(lengths, dict):
        return {}
    return {name: length for name, length in lengths.items()
            if name.startswith(SCORED_DIR) and isinstance(length, int) and length > 0}


def damage(path: Path, length: int, rng: random.Random) -> str:
    """Delete `path`, or cut it to fewer bytes than the `length` its sink's checkpoint
    vouches for (mid-row most times, or to nothing); what was done."""
    if rng.random() < 0.5:
        path.unlink()
        return "deleted"
    size = rng.randrange(length)
    with path.open("r+b") as fh:
        fh.truncate(size)
    return f"cut to {size} of {length} bytes"


def refused(code: int | None, log: str, words: str) -> str | None:
    """Why a start that had to refuse did not do it right (None: it did): exit 2, the
    refusal's `words` in its output, no traceback."""
    if code is None:
        return "it ran on"
    if code != ExitCode.USAGE or words not in log or "Traceback" in log:
        return f"exit {code} ({int(ExitCode.USAGE)} with {words!r} expected): " + (
            log.strip().splitlines() or [""])[-1][:300]
    return None


def _wait_exit(chaos: Chaos, svc: Service, within: float) -> int | None:
    """Wait (supervised) up to `within` seconds for `svc` to exit; its code (None: runs)."""
    deadline = time.monotonic() + within
    while svc.alive() and time.monotonic() < deadline:
        chaos.idle(0.5)
    if svc.alive() or svc.proc is None:
        return None
    return svc.proc.poll()


def _log_of(svc: Service) -> str:
    try:
        return svc.log_path.read_text(errors="replace")
    except OSError:
        return ""


def damage_day_file(chaos: Chaos, rng: random.Random) -> None:
    """Stop the sink, delete or cut a day file its checkpoint vouches for, start it: exit 2
    in one line required; then put the file back or start once with `--reset`."""
    sink = chaos.sink
    if chaos.sink_held or not sink.alive():
        chaos.note("damage_day_file", skipped="the sink is down")
        return
    folder = Path(sink.args[2])
    how = "kill" if rng.random() < 0.5 else "term"
    chaos.sink_held = True
    try:
        if how == "kill":
            sink.kill()
        else:
            stop = sink.terminate(90)
            if stop != 0:
                chaos.bad_exits.append(f"{sink.log_path.name}: SIGTERM exit {stop}")
        try:
            days = committed_days(json.loads((folder / STATE_FILE).read_text()))
        except (OSError, ValueError):
            days = {}
        if not days:
            sink.start()
            chaos.note("damage_day_file", how=how, skipped="no day file checkpointed yet")
            return
        name = rng.choice(sorted(days))
        path = folder / name
        kept, mode = path.read_bytes(), path.stat().st_mode
        done = damage(path, days[name], rng)
        sink.start()
        code = _wait_exit(chaos, sink, REFUSAL_WAIT_S)
        if code is None:
            sink.kill()
        if (why := refused(code, _log_of(sink), RESTORE_OR_RESET)) is not None:
            chaos.bad_exits.append(f"{sink.log_path.name}: {name} {done}: {why}")
        remedy = "restore" if rng.random() < 0.5 else "reset"
        if remedy == "restore":
            path.write_bytes(kept)
            path.chmod(mode)
            sink.start()
        else:
            args = sink.args
            sink.args = (*args, "--reset")
            try:
                sink.start()
            finally:
                sink.args = args  # later restarts resume what the reset began
    finally:
        chaos.sink_held = False
    chaos.note("damage_day_file", how=how, file=name, done=done, sink_exit=code,
               remedy=remedy)


@dataclass
class GroupOffsets:
    """The detectors' group offsets on the input topic: read (`committed`: partition ->
    offset, none committed left out), the input's first offsets (`earliest`), set
    (`alter`: raises while the group has members), and whether every partition has a
    checkpoint on the state topic (`checkpointed`)."""

    committed: Callable[[], dict[int, int]]
    earliest: Callable[[], dict[int, int]]
    alter: Callable[[dict[int, int]], None]
    checkpointed: Callable[[], bool]


def _alter(chaos: Chaos, offsets: GroupOffsets, to: dict[int, int]) -> None:
    """Set the group's offsets to `to`, retried (supervised) while the group is not yet
    empty (a member that left is forgotten at once, one killed after its session)."""
    deadline = time.monotonic() + EMPTY_WAIT_S
    while True:
        try:
            offsets.alter(to)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            chaos.idle(1.0)


def reset_offsets(chaos: Chaos, rng: random.Random) -> None:
    """Stop every detector, reset their group's offsets to the input's earliest, start one:
    exit 2 in one line required; then set the offsets back and start them again."""
    offsets = chaos.group_offsets
    if offsets is None:
        chaos.note("reset_offsets", skipped="no group offsets")
        return
    deadline = time.monotonic() + PAUSES_WAIT_S
    while chaos.paused and time.monotonic() < deadline:
        chaos.idle(1.0)  # a paused member holds the group: the reset would be refused
    deadline = time.monotonic() + CHECKPOINT_WAIT_S
    while not offsets.checkpointed() and time.monotonic() < deadline:
        chaos.idle(2.0)
    zombies = [z for _, z in chaos.zombies if z.alive()]
    if chaos.paused or zombies or not offsets.checkpointed():
        chaos.note("reset_offsets", skipped="a paused detector or a zombie holds the group, "
                   "or a partition has no checkpoint yet")
        return
    names = sorted(chaos.detectors)
    stopped = [(n, chaos.detectors.pop(n)) for n in names]
    for _, det in stopped:  # popped first: the supervisor restarts none meanwhile
        if det.alive():
            stop = det.terminate(90)
            if stop != 0 and not (stop == -signal.SIGTERM
                                  and det.log_path.stat().st_size == 0):
                chaos.bad_exits.append(f"{det.log_path.name}: SIGTERM exit {stop}")
    saved = offsets.committed()
    earliest = offsets.earliest()
    _alter(chaos, offsets, earliest)
    first = names[0] if names else None
    probe = chaos.start_detector(first)
    probe_log = probe.log_path
    chaos.detectors.pop(probe.name.removeprefix("detector-"), None)
    code = _wait_exit(chaos, probe, REFUSAL_WAIT_S)
    if code is None:
        probe.kill()
    if (why := refused(code, _log_of(probe), OFFSETS_RESET)) is not None:
        chaos.bad_exits.append(f"{probe_log.name}: offsets reset to {earliest}: {why}")
    _alter(chaos, offsets, saved)
    for name, _ in stopped or [(probe.name.removeprefix("detector-"), probe)]:
        chaos.start_detector(name)
    chaos.note("reset_offsets", stopped=names, saved=saved, earliest=earliest,
               detector_exit=code)


ACTIONS: dict[str, Callable[[Chaos, random.Random], None]] = {
    "damage_day_file": damage_day_file, "reset_offsets": reset_offsets}
