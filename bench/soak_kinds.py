"""bench/chaos_soak.py's event kinds of the eighteenth session (seeds 730 on): faults a
deployment meets that the earlier kinds did not make.

- `pause_broker`: the broker's JVM SIGSTOPped past the session timeout (a network freeze,
  a stalled VM), detectors and the sink running, then SIGCONTed;
- `restart_replay`: the producer (`auditstream replay`) killed -9 or SIGTERMed mid-file
  and run again on the same file: every row it had delivered arrives twice, and the
  detector's duplicate check must dead-letter each second copy, nothing scored twice;
- `rename_detector`: a detector killed -9 and started again under another
  `DETECTOR_INSTANCE_ID` (a container whose host name, the default id, changes at each
  start): its open transaction has no successor to fence it and must time out;
- `read_only_exports`: the exports folder made read-only under the running sink (a
  read-only bind mount over it: root ignores mode bits): exit 5 at its next write, and
  once writable again its restart continues exactly once.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from shared.errors import ExitCode

if TYPE_CHECKING:
    from chaos_soak import Chaos

#: The kinds and their weights, drawn from seed `KINDS_FROM` on.
KINDS = {"pause_broker": 1, "restart_replay": 1, "rename_detector": 1,
         "read_only_exports": 1}
KINDS_FROM = 730
#: The broker's freeze: past the detectors' session (6 s), short of their watchdog (45 s),
#: which a step blocked on a frozen coordinator would otherwise meet (librdkafka #5456).
BROKER_PAUSE_S = (8.0, 40.0)
#: How long the sink is given to exit on a read-only folder (it writes every 0.5 s).
EXIT_WAIT_S = 60.0
#: `replay`'s exit on SIGTERM: it flushes what it handed to Kafka and reports (exit 130).
REPLAY_TERM_EXIT = 130
#: How long a SIGTERMed replay may flush (the soak gives its flush up to 400 s).
REPLAY_FLUSH_WAIT_S = 420.0
#: `replay`'s summary of a whole file sent (`producer.replay`): its last words.
SUMMARY = re.compile(r"^sent ([\d,]+) of \1 row\(s\) in ", re.M)


def broker_pid(home: Path | None) -> int | None:
    """The PID in the local broker's `broker.pid` under `home` (None: none to pause)."""
    if home is None:
        return None
    try:
        return int((home / "broker.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pause_broker(chaos: Chaos, rng: random.Random) -> None:
    """SIGSTOP the broker for 8-40 s while the pipeline runs (supervised), then SIGCONT."""
    seconds = rng.uniform(*BROKER_PAUSE_S)
    pid = broker_pid(chaos.broker_home)
    if pid is None:
        chaos.note("pause_broker", skipped="no --broker-home")
        return
    os.kill(pid, signal.SIGSTOP)
    try:
        chaos.note("pause_broker", seconds=round(seconds, 1))
        chaos.idle(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)
    chaos.note("resume_broker")


def restart_replay(chaos: Chaos, rng: random.Random) -> None:
    """Kill -9 (or SIGTERM: exit 130 required) the replay mid-file and run it again on the
    same file after 0-2 s; skipped once the replay has ended."""
    feed = chaos.feed
    if feed is None or feed.proc is None or not feed.alive():
        chaos.note("restart_replay", skipped="the replay has ended")
        return
    how = "kill" if rng.random() < 0.5 else "term"
    if how == "kill":
        feed.kill()
        code = -signal.SIGKILL
    else:
        code = feed.terminate(REPLAY_FLUSH_WAIT_S)
        before_entry = code == -signal.SIGTERM and feed.log_path.stat().st_size == 0
        # Or after its end: its summary written, the handler gone with the send (seed 851:
        # every row sent, the SIGTERM met it exiting); systemd counts it a clean stop.
        after_end = code == -signal.SIGTERM and SUMMARY.search(
            feed.log_path.read_text(errors="replace")) is not None
        if code not in (REPLAY_TERM_EXIT, 0) and not before_entry and not after_end:
            chaos.bad_exits.append(f"{feed.log_path.name}: SIGTERM exit {code} "
                                   f"({REPLAY_TERM_EXIT} expected)")
    time.sleep(rng.uniform(0.0, 2.0))
    feed.start()
    chaos.replays += 1
    chaos.note("restart_replay", how=how, code=code)


def rename_detector(chaos: Chaos, rng: random.Random) -> None:
    """Kill -9 a live detector and, 0-3 s later, start a detector under a new instance id."""
    live = chaos.live()
    if not live:
        chaos.note("rename_detector", skipped="no live detector")
        return
    name = rng.choice(live)
    chaos.detectors.pop(name).kill()
    time.sleep(rng.uniform(0.0, 3.0))
    new = chaos.start_detector()
    chaos.note("rename_detector", name=name, new=new.name.removeprefix("detector-"))


def read_only_exports(chaos: Chaos, rng: random.Random,
                      run: Callable[[list[str]], int] | None = None) -> None:
    """Bind-mount the exports folder read-only over itself for 3-15 s past the sink's
    exit: the sink must exit 5 at its next write (or write nothing within `EXIT_WAIT_S`);
    once the mount is gone an exited sink is restarted and must continue exactly once."""
    sh = run or _run
    folder = Path(chaos.sink.args[2])
    hold = rng.uniform(3.0, 15.0)
    if os.geteuid() != 0 and run is None:
        chaos.note("read_only_exports", skipped="not root")
        return
    if not chaos.sink_locked(EXIT_WAIT_S):  # seed 730: still starting, no folder yet
        chaos.note("read_only_exports", skipped="the sink never held the folder's lock")
        return
    chaos.sink_held = True
    try:
        if sh(["mount", "--bind", str(folder), str(folder)]) != 0:
            chaos.note("read_only_exports", skipped="bind mount refused")
            return
        try:
            if sh(["mount", "-o", "remount,bind,ro", str(folder)]) != 0:
                chaos.note("read_only_exports", skipped="read-only remount refused")
                return
            deadline = time.monotonic() + EXIT_WAIT_S
            while chaos.sink.alive() and time.monotonic() < deadline:
                chaos.idle(0.2)
            proc = chaos.sink.proc
            code = None if chaos.sink.alive() or proc is None else proc.poll()
            chaos.idle(hold)
        finally:
            sh(["umount", "-l", str(folder)])
    finally:
        chaos.sink_held = False
    if code is not None:
        if code != ExitCode.OUTPUT_UNWRITABLE:
            chaos.bad_exits.append(f"{chaos.sink.log_path.name}: read-only exit {code} "
                                   f"({int(ExitCode.OUTPUT_UNWRITABLE)} expected)")
        chaos.sink.start()
    chaos.note("read_only_exports", sink_exit=code, held=round(hold, 1))


def _run(argv: list[str]) -> int:
    return subprocess.run(argv, check=False, capture_output=True).returncode


def expected_dead(input_ids: Counter[str]) -> Counter[str]:
    """The dead letters an input topic holding `input_ids` (each id as many times as it
    is there) must give: every copy after an id's first, once (second copies sent by the
    soak, and whatever a restarted replay sends again)."""
    return Counter({i: c - 1 for i, c in input_ids.items() if c > 1})


ACTIONS: dict[str, Callable[[Chaos, random.Random], None]] = {
    "pause_broker": pause_broker, "restart_replay": restart_replay,
    "rename_detector": rename_detector, "read_only_exports": read_only_exports}
