"""A randomized soak: one seeded stream through the pipeline while a seeded chaos plays.

Against the broker of KAFKA_BOOTSTRAP_SERVERS (topics and groups of the run's own), it
generates a CSV (`auditstream generate --seed`), replays it paced into a 4-partition input
topic, and runs detectors of one group (1 to 3 at a time) and one sink, every one as the real
command in a child process from a frozen copy of the sources. At seeded random moments it:

- kill -9s a detector (restarted at once with its instance id, or left dead if others run),
- SIGTERMs a detector (exit 0 required; restarted if it was the only one),
- starts another detector (up to 3),
- kill -9s the sink and restarts it,
- SIGSTOPs a detector for longer than the session timeout (6 s), sometimes longer than the
  transaction timeout (60 s), then SIGCONTs it: a zombie that wakes must be fenced, its
  open transaction never committed,
- sends second copies of transactions already replayed (each must be dead-lettered once as
  `DuplicateTransaction`).

From seed 720 on (`NEW_KINDS_FROM`; earlier seeds draw as before, so each keeps its plan) it
also:

- starts a second sink on the exports folder while the first holds it (exit 6 required,
  the first unharmed),
- fills the exports' file system (a tmpfs of the run's own; root only, else skipped): the
  sink must exit 5 at its next write (or write nothing meanwhile), and once the space is
  freed its restart continues exactly once,
- restarts the broker (`--broker-home`: the `auditstream broker` of BROKER_HOME,
  BROKER_PORT, BROKER_CONTROLLER_PORT; skipped without), half the time with a detector
  restarted just before the stop, so the broker goes while that detector starts.

From seed 730 on (`soak_kinds.KINDS_FROM`) it also pauses the broker (SIGSTOP, 8-40 s),
kills or SIGTERMs the replay mid-file and runs it again on the same file, restarts a
detector under a new instance id, and makes the exports folder read-only under the sink
(`bench/soak_kinds.py`).

From seed 800 on (`soak_kinds20.KINDS_FROM`) it also sends bursts of poison keyed by real
customers, sometimes just before a detector's kill -9, and the detectors snapshot every
1,000 offsets (`bench/soak_kinds20.py`): each poison dead-lettered once, in its class;
from seed 820 on poison on the scored topic too, each rejected once by the sink.

From seed 840 on (`soak_kinds21.KINDS_FROM`) it also writes poison records to the
detectors' state topic under the keys a restore reads, most times just before a detector's
kill -9, and restarts a detector with one setting changed to another valid value (its batch
size, commit interval, snapshot spacing or chunk size, the core, ...) (`bench/soak_kinds21.py`).

From seed 860 on (`soak_kinds22.KINDS_FROM`) it also deletes or cuts a day file of the
stopped sink (its restart must refuse, exit 2, then the file is put back or the sink started
with `--reset`), and resets the stopped detectors' group offsets to the input's earliest (a
detector's start must refuse, exit 2, then the offsets are set back) (`bench/soak_kinds22.py`).

Anything that dies unplanned is restarted (a supervisor's job) and reported. After the
replay and the plan, it waits until the sink has committed every transaction, stops the
services (SIGTERM, exit 0 required) and compares with `auditstream score --partitions 4` on
the same CSV: the day files row for row (every column; `source_offset` too unless second
copies shifted the input's offsets), every other CSV table byte for byte, run.json's
counts, the dead letter topic (every copy of an id after its first on the input topic, once:
the second copies, and what a restarted replay sent again; poison apart), and the scored
topic read committed (every transaction exactly once). Exit 1 on any divergence; the events,
counts and durations go to stdout and `--report` as JSON.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:20400 nice -n 10 .venv/bin/python bench/chaos_soak.py \
        --seed 1 [--customers 300 --days 30 --rate 250 --events 12] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import soak_kinds
import soak_kinds20
import soak_kinds21
import soak_kinds22
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

from detector.checkpoints import state_prefix
from shared.codec import encode
from shared.csv_io import load_sorted
from shared.errors import ExitCode
from shared.folderlock import LOCK_FILE
from shared.kafka import make_admin, make_consumer, make_producer
from shared.settings import KafkaSettings
from tests.integration.detector_harness import CORE_ENV, Topics
from tests.integration.pipeline_harness import (
    Feeder,
    Service,
    base_env,
    committed_rows,
    detector,
    diff_rows,
    freeze_sources,
    generate_csv,
    read_scored_csv,
    replay,
    sink,
)
from tests.integration.topic_reader import headers_of, read_all

PARTITIONS = 4
#: Frequent checkpoints and rollups, so kills fall between them and after them.
SINK_ENV = {"SINK_CHECKPOINT_INTERVAL_S": "0.5", "SINK_ROLLUP_INTERVAL_S": "1",
            "SINK_REPORT_INTERVAL_S": "60"}
#: Snapshots every 4,000 rows: restores read a snapshot and replay the rest.
DETECTOR_ENV = {"DETECTOR_SNAPSHOT_EVERY": "4000"}
CORES = {"kernel": {"AUDITSTREAM_CORE": "kernel", "DETECTOR_CORE__HOT_CUSTOMERS": "8"},
         "compiled": {"AUDITSTREAM_CORE": "compiled"}}
#: The detector harness's session timeout (`pipeline_harness.detector`), and the default
#: transaction timeout: the pauses are drawn past one, sometimes past both.
SESSION_S, TRANSACTION_S = 6.0, 60.0
MAX_DETECTORS = 3
#: A detector silent this long (it logs every 2 s) is hung: killed and restarted, reported.
HANG_S = 90.0
DRAIN_STALL_S, DRAIN_MAX_S = 240.0, 1500.0
#: The replay's last flush (PRODUCER_FLUSH_TIMEOUT_S, 60 s by default): see `replay_env`.
REPLAY_FLUSH_S = 400.0
#: Longest wait at the end for the sink's current process to turn its loop (`sink_turned`).
LOOP_WAIT_S = 180.0
#: run.json fields that say when or where a run was (or which program), not what it found.
RUN_JSON_WALL = {"written_at", "sink_started_at", "source", "inputs", "input_sha256",
                 "offsets", "input_offsets", "auditstream_version", "librdkafka_version",
                 "partitions", "core_config", "created_at"}
#: Tables that hold a wall-clock time (compared elsewhere or not at all).
WALL_TABLES = {"status.csv"}
EVENTS = {"kill_detector": 3, "term_detector": 2, "start_detector": 2, "kill_sink": 3,
          "pause_detector": 2, "replace_paused": 1, "pause_sink": 1, "duplicates": 1}
#: The first seed whose plan draws `NEW_EVENTS` too (a seed must reproduce its plan: the
#: seeds before it draw from `EVENTS` alone, as they did when they ran).
NEW_KINDS_FROM = 720
NEW_EVENTS = {"second_sink": 1, "disk_full": 1, "restart_broker": 1}
#: The exports' own tmpfs (`disk_full`): a run's exports and state (~4 MB) 16 times over.
TMPFS_SIZE = "64m"
#: How long `restart_broker` lets the broker start (`BROKER_START_TIMEOUT`, 90 s by default).
BROKER_START_S = 300.0
#: How long a second sink, or the sink on a full disk, is given to exit.
EXIT_WAIT_S = 60.0


#: A detector's last words when it leaves its id to a process woken before it (detector.txn),
#: or when a process of its id fenced it (a zombie woken before its join: seed 786).
LEFT_ID = "leaves the id to that one"
FENCED_ID = "was fenced (another instance with the same id?)"

#: Every kind a `--plan` may name.
ALL_KINDS = {**EVENTS, **NEW_EVENTS, **soak_kinds.KINDS, **soak_kinds20.KINDS,
             **soak_kinds20.SCORED_KINDS, **soak_kinds21.KINDS, **soak_kinds22.KINDS}


def kinds_of(seed: int) -> dict[str, int]:
    """The event kinds seed `seed` draws from, with their weights."""
    if seed >= soak_kinds22.KINDS_FROM:
        return {**EVENTS, **NEW_EVENTS, **soak_kinds.KINDS, **soak_kinds20.KINDS,
                **soak_kinds20.SCORED_KINDS, **soak_kinds21.KINDS, **soak_kinds22.KINDS}
    if seed >= soak_kinds21.KINDS_FROM:
        return {**EVENTS, **NEW_EVENTS, **soak_kinds.KINDS, **soak_kinds20.KINDS,
                **soak_kinds20.SCORED_KINDS, **soak_kinds21.KINDS}
    if seed >= soak_kinds20.SCORED_FROM:
        return {**EVENTS, **NEW_EVENTS, **soak_kinds.KINDS, **soak_kinds20.KINDS,
                **soak_kinds20.SCORED_KINDS}
    if seed >= soak_kinds20.KINDS_FROM:
        return {**EVENTS, **NEW_EVENTS, **soak_kinds.KINDS, **soak_kinds20.KINDS}
    if seed >= soak_kinds.KINDS_FROM:
        return {**EVENTS, **NEW_EVENTS, **soak_kinds.KINDS}
    return {**EVENTS, **NEW_EVENTS} if seed >= NEW_KINDS_FROM else dict(EVENTS)


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


@dataclass
class Chaos:
    """The detectors and the sink of one run, the events done to them, what went wrong."""

    env: dict[str, str]
    logs: Path
    sink: Service
    started: float = field(default_factory=time.monotonic)
    detectors: dict[str, Service] = field(default_factory=dict)
    #: Every detector ever started, by name (a restart reuses it: its logs are numbered on).
    known: dict[str, Service] = field(default_factory=dict)
    #: SIGSTOPped processes: name, the process, when (monotonic) to SIGCONT it.
    paused: list[tuple[str, Service, float]] = field(default_factory=list)
    names: int = 0
    #: Paused processes replaced by a new start of their instance (`replace`), by name.
    zombies: list[tuple[str, Service]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    unplanned: list[str] = field(default_factory=list)
    #: Zombies stopped at the end as their id's only process (`stop_all`).
    only: list[tuple[str, Service]] = field(default_factory=list)
    bad_exits: list[str] = field(default_factory=list)
    #: Set while an event keeps the sink down on purpose (`disk_full`): not restarted.
    sink_held: bool = False
    #: The exports' own tmpfs (`disk_full`), or None (not root: the event is skipped).
    disk: Path | None = None
    #: Runs `auditstream broker stop|start` (`restart_broker`), or None (skipped).
    broker: Callable[[str], None] | None = None
    #: Second sinks started on the exports folder (`second_sink`), one Service, restarted.
    second: Service | None = None
    #: BROKER_HOME of the broker (`pause_broker`: its PID file), or None (skipped).
    broker_home: Path | None = None
    #: The replay (`restart_replay` kills it and starts it again), and how many times.
    feed: Service | None = None
    replays: int = 0
    #: Each detector's CPU seconds when last looked at, and when (monotonic) they last
    #: moved, by its log's name (`cpu_still`).
    cpu_seen: dict[str, float] = field(default_factory=dict)
    cpu_moved: dict[str, float] = field(default_factory=dict)
    #: When each paused process was woken (monotonic), by its log's name: its silence
    #: counts from then (`check`), not from its last line before the pause.
    woken: dict[str, float] = field(default_factory=dict)
    #: Sends poison to the input and keeps what it sent (`poison`), or None (skipped).
    poisoner: soak_kinds20.Poisoner | None = None
    #: What every detector's environment adds to `env` (the snapshots' spacing).
    detector_env: dict[str, str] = field(default_factory=lambda: dict(DETECTOR_ENV))
    #: Reads and writes the detectors' state topic (`poison_state`), or None (skipped).
    state_writer: soak_kinds21.StateWriter | None = None
    #: Reads and sets the detectors' group offsets (`reset_offsets`), or None (skipped).
    group_offsets: soak_kinds22.GroupOffsets | None = None

    def at(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def note(self, kind: str, **what: Any) -> None:
        self.events.append({"t": self.at(), "event": kind, **what})
        log(f"{kind} {what}")

    def start_detector(self, name: str | None = None) -> Service:
        if name is None:
            self.names += 1
            name = f"d{self.names}"
        det = self.known.get(name) or detector(name, {
            **self.env, **self.detector_env,
            "DETECTOR_STATE_DIR": str(self.logs / f"state-{name}")}, self.logs)
        self.known[name] = self.detectors[name] = det.start()
        return det

    def replace(self, name: str) -> None:
        """Start detector `name` anew while its paused process still lives (a supervisor
        whose liveness probe gave up on it): the paused one, a zombie with the same
        transactional id, must be fenced when it wakes."""
        old = self.detectors[name]
        self.zombies.append((name, old))
        new = Service(old.name, old.args, old.env, old.log_dir, starts=old.starts)
        self.known[name] = self.detectors[name] = new.start()

    def reconfigure(self, name: str, changes: dict[str, str]) -> Service:
        """Start detector `name` anew (its process ended) with `changes` to its
        environment, kept by its later restarts."""
        old = self.known[name]
        new = Service(old.name, old.args, {**old.env, **changes}, old.log_dir)
        new.starts = old.starts  # its logs numbered on
        self.known[name] = self.detectors[name] = new.start()
        return new

    def is_paused(self, svc: Service) -> bool:
        return any(p is svc for _, p, _ in self.paused)

    def paused_names(self) -> list[str]:
        """Detectors whose current process is paused (not yet replaced)."""
        return sorted(n for n, p, _ in self.paused if self.detectors.get(n) is p)

    def live(self) -> list[str]:
        return sorted(n for n, d in self.detectors.items()
                      if d.alive() and not self.is_paused(d))

    def orphans(self) -> list[tuple[str, Service]]:
        """Replaced zombies still running whose id has no current process (its replacement
        was killed and left dead: `kill_detector`): each is its id's only process, as a
        detector the supervisor kept, not a zombie running beside a newer one."""
        return [(n, z) for n, z in self.zombies if n not in self.detectors and z.alive()]

    def zombie_codes(self) -> list[str]:
        """How each replaced zombie ended (or that it still runs); one stopped as its id's
        only process (`stop_all`) is named so."""
        return [f"{svc.log_path.name}: "
                + (f"exit {svc.proc.poll()}" if svc.proc and svc.proc.poll() is not None
                   else "running")
                + (" (its id's only process)" if any(svc is z for _, z in self.only) else "")
                for _, svc in self.zombies]

    def cpu_of(self, svc: Service) -> float | None:
        """The CPU seconds `svc`'s process has used (None: unknown)."""
        if not isinstance(svc.proc, subprocess.Popen):
            return None
        try:
            fields = Path(f"/proc/{svc.proc.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cpu_still(self, svc: Service, now: float) -> float:
        """Seconds since `svc`'s CPU time was last seen to move (over `HANG_S` until it
        has): a detector logs between batches only, and one batch at load 38 ran past
        90 s (seed 738's d4), its log silent, its CPU time growing."""
        name, cpu = svc.log_path.name, self.cpu_of(svc)
        if cpu is not None:
            if self.cpu_seen.get(name, cpu) != cpu:
                self.cpu_moved[name] = now
            self.cpu_seen[name] = cpu
        return now - self.cpu_moved.get(name, now - HANG_S - 1)

    def sink_locked(self, within: float) -> bool:
        """Wait up to `within` seconds (supervised) for the current sink's PID in its
        exports folder's lock: the folder exists and the sink holds it (not starting)."""
        folder, deadline = Path(self.sink.args[2]), time.monotonic() + within
        while self.sink.proc is None or lock_holder(folder) != self.sink.proc.pid:
            if time.monotonic() > deadline:
                return False
            self.idle(0.2)
        return True

    def check(self) -> None:
        """Wake paused detectors whose time came; restart whatever died unplanned."""
        now = time.monotonic()
        for entry in list(self.paused):
            name, det, wake = entry
            if now >= wake:
                if det.proc is not None and det.alive():
                    det.proc.send_signal(signal.SIGCONT)
                self.woken[det.log_path.name] = now
                self.paused.remove(entry)
                self.note("resume_detector", name=name,
                          zombie=self.detectors.get(name) is not det)
        for name, det in list(self.detectors.items()):
            if self.is_paused(det):
                continue
            if not det.alive():
                if (zombie := self.left_to(name, det)) is not None:
                    self.zombies = [(n, z) for n, z in self.zombies if z is not zombie]
                    self.detectors[name] = zombie
                    self.note("zombie_took_over", name=name, left=det.log_path.name,
                              zombie=zombie.log_path.name)
                    continue
                code = det.proc.poll() if det.proc else None
                self.unplanned.append(f"{det.log_path.name} exited {code} at {self.at()} s")
                log(f"UNPLANNED: {self.unplanned[-1]}")
                self.start_detector(name)
            elif min(det.silent_for(), now - self.woken.get(det.log_path.name, -HANG_S),
                     self.cpu_still(det, now)) > HANG_S:
                self.unplanned.append(f"{det.log_path.name} hung at {self.at()} s")
                log(f"UNPLANNED: {self.unplanned[-1]}")
                det.kill()
                self.start_detector(name)
        if not self.sink_held and not self.sink.alive():
            code = self.sink.proc.poll() if self.sink.proc else None
            self.unplanned.append(f"{self.sink.log_path.name} exited {code} at {self.at()} s")
            log(f"UNPLANNED: {self.unplanned[-1]}")
            self.sink.start()

    def idle(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.check()
            time.sleep(0.2)

    def stop_all(self) -> dict[str, int]:
        for _, det, _ in self.paused:
            if det.proc is not None and det.alive():
                det.proc.send_signal(signal.SIGCONT)
        self.paused.clear()
        codes = {"sink": self.sink.terminate()}
        handed = []
        for n, d in self.detectors.items():
            if d.proc:
                codes[n] = d.terminate()
                if codes[n] != 0 and (zombie := self.left_to(n, d)) is not None:
                    handed.append((n, zombie))  # the stop met it leaving (seed 759's end)
        # zombies that are their id's only process are stopped as a detector, exit 0 required
        self.only = self.orphans() + handed
        codes.update({n: z.terminate() for n, z in self.only})
        return codes

    def left_to(self, name: str, det: Service) -> Service | None:
        """The woken zombie of `name` that `det`, its current process, left the id to
        (`LEFT_ID` its last words), or None. Both paused past their timeouts, the zombie
        woken first found no member of its id and went on, and `det`, woken, left it the
        id (exit 2; docs/reliability.md, the both-paused row): the zombie is then the id's
        process, not one to fence by a restart (seed 759 took that for a failure). So too
        when `det` was fenced (`FENCED_ID`) by the zombie, woken before `det` joined the
        group (the row on a zombie woken between the newer process's producer and its
        join; seeds 723 and 786)."""
        try:
            said = det.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return None
        if LEFT_ID not in said and FENCED_ID not in said:
            return None
        return next((z for n, z in self.zombies
                     if n == name and z.alive() and not self.is_paused(z)), None)

    def close(self) -> None:
        second = [self.second] if self.second else []
        for svc in [*self.detectors.values(), *(z for _, z in self.zombies), self.sink,
                    *second]:
            if svc.alive():
                if svc.proc is not None:
                    svc.proc.send_signal(signal.SIGCONT)
                svc.terminate(10)


def act(kind: str, chaos: Chaos, rng: random.Random, send_copies: Callable[[int], int]) -> None:
    """Do one event of `kind` (or its nearest possible kind) to the running pipeline."""
    live = chaos.live()
    if kind in ("kill_detector", "term_detector", "pause_detector", "pause_long") and not live:
        kind = "start_detector"
    if kind == "replace_paused" and not chaos.paused_names():
        kind = "pause_detector" if live else "start_detector"
    if kind == "start_detector" and sum(
            d.alive() for d in chaos.detectors.values()) >= MAX_DETECTORS:
        kind = "kill_detector" if live else "kill_sink"  # every detector paused: the sink
    if kind == "kill_detector":
        name = rng.choice(live)
        chaos.detectors[name].kill()
        restart = len(live) == 1 or rng.random() < 0.6
        if restart:
            time.sleep(rng.uniform(0.0, 3.0))
            chaos.start_detector(name)
        else:
            chaos.detectors.pop(name)
        chaos.note(kind, name=name, restarted=restart)
    elif kind == "term_detector":
        name = rng.choice(live)
        det = chaos.detectors.pop(name)
        code = det.terminate(90)
        if code == -signal.SIGTERM and det.log_path.stat().st_size == 0:
            # Not yet at its entry point (the interpreter starting, niced on a loaded
            # machine: seed 723, 9 s): no handler can be in force yet; systemd counts death
            # by its stop signal as a clean stop.
            chaos.note("term_before_entry", name=name, log=det.log_path.name)
        elif code != 0:
            chaos.bad_exits.append(f"{det.log_path.name}: SIGTERM exit {code}")
        restarted = len(live) == 1
        if restarted:
            chaos.start_detector(name)
        chaos.note(kind, name=name, code=code, restarted=restarted)
    elif kind == "start_detector":
        det = chaos.start_detector()
        chaos.note(kind, name=det.name.removeprefix("detector-"))
    elif kind == "kill_sink":
        chaos.sink.kill()
        time.sleep(rng.uniform(0.0, 2.0))
        chaos.sink.start()
        chaos.note(kind)
    elif kind in ("pause_detector", "pause_long"):
        name = rng.choice(live)
        long = kind == "pause_long" or rng.random() < 0.25
        seconds = (rng.uniform(TRANSACTION_S + 2, TRANSACTION_S + 15) if long
                   else rng.uniform(SESSION_S + 2, SESSION_S + 20))
        det = chaos.detectors[name]
        assert det.proc is not None
        det.proc.send_signal(signal.SIGSTOP)
        chaos.paused.append((name, det, time.monotonic() + seconds))
        chaos.note(kind, name=name, seconds=round(seconds, 1))
    elif kind == "pause_sink":
        seconds = rng.uniform(5.0, 30.0)
        assert chaos.sink.proc is not None
        chaos.sink.proc.send_signal(signal.SIGSTOP)
        chaos.note(kind, seconds=round(seconds, 1))
        chaos.idle(seconds)
        chaos.sink.proc.send_signal(signal.SIGCONT)
        chaos.note("resume_sink")
    elif kind == "replace_paused":
        name = rng.choice(chaos.paused_names())
        chaos.replace(name)
        chaos.note(kind, name=name)
    elif kind == "duplicates":
        chaos.note(kind, copies=send_copies(rng.randint(20, 200)))
    elif kind == "second_sink":
        second_sink(chaos)
    elif kind == "disk_full":
        disk_full(chaos, rng.uniform(3.0, 15.0))
    elif kind == "restart_broker":
        restart_broker(chaos, rng)
    elif kind in soak_kinds.ACTIONS:
        soak_kinds.ACTIONS[kind](chaos, rng)
    elif kind in soak_kinds20.ACTIONS:
        soak_kinds20.ACTIONS[kind](chaos, rng)
    elif kind in soak_kinds21.ACTIONS:
        soak_kinds21.ACTIONS[kind](chaos, rng)
    elif kind in soak_kinds22.ACTIONS:
        soak_kinds22.ACTIONS[kind](chaos, rng)


def replayed(kafka: KafkaSettings, topic: str, copies: int,
             ends: Callable[[KafkaSettings, str], int] | None = None) -> int:
    """How many of the file's rows the replay has put in `topic` by now: the messages there
    (its end offsets, `ends`) less the `copies` asked for so far (0 if the broker does not
    answer). Not the pace's count: a replay started late or slowed by a loaded machine is
    behind it, and a copy of a row not yet replayed lands before its original, which is
    then the one dead-lettered (seed 726)."""
    try:
        return max(0, (ends or end_offsets)(kafka, topic) - copies)
    except KafkaException:
        return 0


def state_writer(kafka: KafkaSettings, topics: Topics) -> soak_kinds21.StateWriter:
    """Reads and writes the detectors' state topic of `topics` (`poison_state`)."""
    group = topics.env()["DETECTOR_GROUP_ID"]

    def read(p: int) -> list[soak_kinds21.Record]:
        consumer = make_consumer(kafka, "unused-reader", **{"enable.partition.eof": True})
        out: list[soak_kinds21.Record] = []
        try:
            consumer.assign([TopicPartition(topics.snapshots, p, 0)])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                if msg.error() is not None:  # the end, or no such topic yet
                    break
                headers = cast(soak_kinds21.Headers, msg.headers() or [])
                out.append((msg.key() or b"", msg.value(), list(headers)))
        finally:
            consumer.close()
        return out

    def write(p: int, records: list[soak_kinds21.Record]) -> None:
        producer = make_producer(kafka)
        for key, value, headers in records:
            producer.produce(topics.snapshots, key=key, value=value,
                             headers=[(k, v) for k, v in headers],
                             partition=p)
        assert producer.flush(60) == 0, "poison on the state topic not delivered"

    return soak_kinds21.StateWriter(
        PARTITIONS, read, write, lambda p: state_prefix(group, topics.input, p))


def group_offsets(kafka: KafkaSettings, topics: Topics) -> soak_kinds22.GroupOffsets:
    """The detectors' group offsets on the input of `topics` (`reset_offsets`)."""
    group = topics.env()["DETECTOR_GROUP_ID"]
    parts = [TopicPartition(topics.input, p) for p in range(PARTITIONS)]

    def committed() -> dict[int, int]:
        consumer = make_consumer(kafka, group)  # asks, never joins the group
        try:
            return {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)
                    if tp.offset >= 0}
        finally:
            consumer.close()

    def earliest() -> dict[int, int]:
        consumer = make_consumer(kafka, "unused-reader")
        try:
            return {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[0]
                    for tp in parts}
        finally:
            consumer.close()

    def alter(to: dict[int, int]) -> None:
        request = ConsumerGroupTopicPartitions(
            group, [TopicPartition(topics.input, p, o) for p, o in sorted(to.items())])
        # held until its answer: an admin client collected at once never answers (seed
        # 860's first run: `TimeoutError` after 30 s, every time)
        admin = make_admin(kafka)
        for future in admin.alter_consumer_group_offsets([request]).values():
            future.result(timeout=30)  # raises while the group has members

    def checkpointed() -> bool:
        writer = state_writer(kafka, topics)
        return all(any(key == f"{writer.prefix(p)}/m".encode() and value
                       for key, value, _ in writer.read(p)) for p in range(PARTITIONS))

    return soak_kinds22.GroupOffsets(committed, earliest, alter, checkpointed)


def end_offsets(kafka: KafkaSettings, topic: str) -> int:
    """The sum of `topic`'s partitions' end offsets."""
    consumer = make_consumer(kafka, "unused-reader")
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in range(PARTITIONS))
    finally:
        consumer.close()


def sink_turned(exports: Path, since: float) -> bool:
    """Whether a sink started at `since` (wall clock) has turned its loop: status.csv
    rewritten since with a heartbeat (`sink.status`: empty from a start until then)."""
    status = exports / "status.csv"
    try:
        if status.stat().st_mtime < since:
            return False
        with status.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError:
        return False
    return bool(rows and rows[0].get("heartbeat_at"))


def lock_holder(folder: Path) -> int | None:
    """The PID the exports folder's lock file names (None: none yet)."""
    try:
        return int((folder / LOCK_FILE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def second_sink(chaos: Chaos) -> None:
    """Start a second sink on the exports folder once the first holds its lock: it must
    exit 6 (`LockedError`) and leave the first running."""
    first = chaos.sink
    if not chaos.sink_locked(EXIT_WAIT_S):
        chaos.note("second_sink", skipped="the first sink never held the lock")
        return
    if chaos.second is None:
        chaos.second = Service("sink2", first.args, first.env, first.log_dir)
    other = chaos.second.start()
    assert other.proc is not None
    deadline = time.monotonic() + EXIT_WAIT_S
    while other.alive() and time.monotonic() < deadline:
        chaos.idle(0.2)
    code = other.proc.poll() if not other.alive() else other.terminate(10)
    if code != ExitCode.LOCKED:
        chaos.bad_exits.append(f"{other.log_path.name}: second sink exit {code} "
                               f"({int(ExitCode.LOCKED)} expected)")
    chaos.note("second_sink", code=code)


def fill(path: Path) -> int:
    """Write `path` until its file system is full (ENOSPC); the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            chunk = b"\0" * size
            try:
                while True:
                    written += os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    return written


def disk_full(chaos: Chaos, hold: float) -> None:
    """Fill the exports' file system: the sink must exit 5 at its next write (or write
    nothing within `EXIT_WAIT_S`); `hold` seconds after that the space is freed and an
    exited sink restarted, which must continue exactly once."""
    if chaos.disk is None or not os.path.ismount(chaos.disk):  # never fill a shared disk
        chaos.note("disk_full", skipped="no tmpfs of the run's own (not root)")
        return
    ballast = chaos.disk / "ballast"
    chaos.sink_held = True
    try:
        size = fill(ballast)
        deadline = time.monotonic() + EXIT_WAIT_S
        while chaos.sink.alive() and time.monotonic() < deadline:
            chaos.idle(0.2)
        code = None if chaos.sink.alive() else chaos.sink.proc.poll()  # type: ignore[union-attr]
        chaos.idle(hold)
    finally:
        ballast.unlink()
        chaos.sink_held = False
    if code is not None:
        if code != ExitCode.OUTPUT_UNWRITABLE:
            chaos.bad_exits.append(f"{chaos.sink.log_path.name}: disk full exit {code} "
                                   f"({int(ExitCode.OUTPUT_UNWRITABLE)} expected)")
        chaos.sink.start()
    chaos.note("disk_full", ballast=size, sink_exit=code, held=round(hold, 1))


def restart_broker(chaos: Chaos, rng: random.Random) -> None:
    """Stop the broker for 5-30 s and start it again; half the time a live detector is
    killed and restarted 0-3 s before the stop, so the broker goes while it starts."""
    down, starting = rng.uniform(5.0, 30.0), None
    live = chaos.live()
    if live and rng.random() < 0.5:
        starting = rng.choice(live)
        chaos.detectors[starting].kill()
        chaos.start_detector(starting)
        time.sleep(rng.uniform(0.0, 3.0))
    if chaos.broker is None:
        chaos.note("restart_broker", skipped="no --broker-home", detector_starting=starting)
        return
    chaos.broker("stop")
    chaos.note("broker_stopped", detector_starting=starting, down=round(down, 1))
    chaos.idle(down)
    # the start takes 40-60 s on a loaded machine: the chaos is supervised meanwhile (pauses
    # end on time; seed 727's d1, woken 43 s late, was then taken for hung)
    failed: list[BaseException] = []

    broker = chaos.broker

    def start() -> None:
        try:
            broker("start")
        except BaseException as exc:  # raised again in the soak's own thread
            failed.append(exc)
    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    while starter.is_alive():
        chaos.idle(0.5)
    if failed:
        raise failed[0]
    chaos.note("restart_broker", detector_starting=starting)


def compare(exports: Path, offline: Path, offsets_shifted: bool,
            rejected: int = 0) -> dict[str, Any]:
    """Where the sink's exports differ from `score`'s (empty lists and dicts: nowhere);
    `rejected`: the messages the sink must have rejected (poison sent to its topic)."""
    diff = diff_rows(read_scored_csv(exports), read_scored_csv(offline),
                     ignore=("source_offset",) if offsets_shifted else ())
    tables = sorted(p.name for p in offline.glob("*.csv") if p.name not in WALL_TABLES)
    differing = [t for t in tables
                 if not (exports / t).exists() or (exports / t).read_bytes()
                 != (offline / t).read_bytes()]
    extra = sorted(p.name for p in exports.glob("*.csv")
                   if p.name not in WALL_TABLES and not (offline / p.name).exists()
                   and p.name != "reviews_log.csv")
    ours, theirs = (json.loads((d / "run.json").read_text()) for d in (exports, offline))
    run_json = {k: [ours.get(k), theirs.get(k)] for k in sorted(set(ours) & set(theirs))
                if k not in RUN_JSON_WALL and ours.get(k) != theirs.get(k)}
    # What one side alone counts must be nothing but the poison sent to the sink: no row
    # rejected but those, no field unknown.
    run_json.update({k: [v, want] for k, want in (("rows_rejected", rejected),
                                                  ("rows_with_unknown_fields", 0))
                     if (v := ours.get(k)) != want})
    run_json.update({k: [0, v] for k in ("rejected_rows",) if (v := theirs.get(k)) != 0})
    lines = exports / "sink_rejected.jsonl"
    return {
        "rows": diff.rows, "expected": diff.expected, "lost": diff.lost[:20],
        "duplicated": diff.duplicated[:20], "changed": diff.changed[:20],
        "unexpected": diff.unexpected[:20], "columns_differing": diff.columns_differing,
        "tables_differing": differing, "tables_only_in_exports": extra,
        "run_json_differing": run_json,
        # the lines past (or short of) the poison sent to the sink
        "sink_rejected": (lines.read_text().count("\n") if lines.exists() else 0) - rejected,
    }


def soak(args: argparse.Namespace, kafka: KafkaSettings, work: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    topics = Topics(f"chaos-{args.seed}-{uuid.uuid4().hex[:8]}", PARTITIONS).create(kafka)
    env = {**base_env(kafka, topics, CORE_ENV, freeze_sources(work / "src")), **SINK_ENV,
           **CORES[args.core]}
    if args.seed >= NEW_KINDS_FROM and os.geteuid() == 0 and mount_tmpfs(work / "disk"):
        disk: Path | None = work / "disk"
    else:
        disk = None
    source = work / "payments.csv"
    n = generate_csv(source, env, seed=args.seed, customers=args.customers, days=args.days)
    txs, errors = load_sorted([source])
    assert not errors and len(txs) == n, (errors[:3], len(txs), n)
    log(f"seed {args.seed}: {n:,} transactions, topics {topics.base}, core {args.core}")
    offline = Service("score", ("auditstream", "score", str(source), "--partitions",
                                str(PARTITIONS), "--out", str(work / "offline")), env, work)
    exports = (disk or work) / "exports"
    chaos = Chaos(env, work, sink(env, exports, work), disk=disk,
                  broker=broker_control(args.broker_home), broker_home=args.broker_home)
    feed = replay(source, replay_env(env), work, rate=args.rate)
    chaos.feed = feed
    feeders: list[Feeder] = []
    copied: Counter[str] = Counter()

    def send(items: list[tuple[bytes, bytes]], topic: str = topics.input) -> None:
        feeder = Feeder(kafka, topic, items, rate=200.0)
        feeder.start()
        feeders.append(feeder)
    if args.seed >= soak_kinds20.KINDS_FROM:
        chaos.poisoner = soak_kinds20.Poisoner(txs, send)
        chaos.detector_env["DETECTOR_SNAPSHOT_EVERY"] = str(soak_kinds20.SNAPSHOT_EVERY)
    if chaos.poisoner is not None and args.seed >= soak_kinds20.SCORED_FROM:
        chaos.poisoner.send_scored = lambda items: send(items, topics.scored)
    if args.seed >= soak_kinds21.KINDS_FROM:
        chaos.state_writer = state_writer(kafka, topics)
    if args.seed >= soak_kinds22.KINDS_FROM:
        chaos.group_offsets = group_offsets(kafka, topics)
    poisoned = chaos.poisoner.sent if chaos.poisoner else Counter[bytes]()
    # poison on the scored topic: the sink's to reject, once each
    refused = chaos.poisoner.scored if chaos.poisoner else Counter[bytes]()
    try:
        offline.start()
        chaos.start_detector()
        chaos.sink.start()
        feed.start()
        fed_from = time.monotonic()

        def send_copies(count: int) -> int:
            """Second copies of `count` transactions surely replayed already (the first
            half of what the input topic holds of the replay's: `replayed`)."""
            sent = replayed(kafka, topics.input, copied.total() + poisoned.total()) // 2 \
                if feed.alive() else n
            if sent < 1:
                return 0
            picked = rng.sample(txs[:sent], min(count, sent))
            copied.update(t.transaction_id for t in picked)
            items = [(t.customer_id.encode(), encode(t)) for t in picked]
            send(items)
            return len(items)

        chaos.idle(rng.uniform(3.0, 8.0))
        drawn = kinds_of(args.seed)
        kinds = list(drawn)
        weights = [drawn[k] for k in kinds]
        plan = args.plan or [rng.choices(kinds, weights)[0] for _ in range(args.events)]
        for kind in plan:
            chaos.idle(rng.uniform(2.0, args.gap))
            act(kind, chaos, rng, send_copies)
        while feed.alive():
            chaos.idle(1.0)
        stream_s = round(time.monotonic() - fed_from, 1)
        assert feed.wait(1) == 0, feed.logs()[-3000:]
        for feeder in feeders:
            assert feeder.result(300) == len(feeder.items)
        while chaos.paused:
            chaos.idle(1.0)
        log("replay done; draining")
        drain_s = drain(chaos, n, lambda: committed_rows(exports),
                        lambda: input_lag(kafka, topics.input, topics.env()["DETECTOR_GROUP_ID"]))
        # A sink restarted (kill_sink) just before the drain ended must reach its loop
        # before the stop: stopped in its start-up it leaves the exports as the killed one
        # did, run.json's event_watermark held back by partitions at their end for under
        # SINK_IDLE_PARTITION_S (seed 716), where the loop's stop settles it as `score` does.
        loop_start = time.monotonic()
        while not sink_turned(exports, chaos.sink.started_at):
            chaos.idle(0.5)
            assert time.monotonic() - loop_start < LOOP_WAIT_S, "the sink never turned its loop"
        time.sleep(3.0)  # a late duplicate would still be exported
        codes = chaos.stop_all()
        zombies = chaos.zombie_codes()  # before `close` ends any still running
        assert offline.wait(600) == 0, offline.logs()[-3000:]
    finally:
        chaos.close()
        for feeder in feeders:
            feeder.stop()
        for svc in (feed, offline):
            if svc.proc is not None and svc.alive():
                svc.terminate(10)

    result = compare(exports, work / "offline",
                     offsets_shifted=bool(copied) or chaos.replays > 0 or bool(poisoned),
                     rejected=refused.total())
    if args.seed >= soak_kinds20.SCORED_FROM:
        path = exports / "sink_rejected.jsonl"
        result["poison_scored"] = soak_kinds20.check_rejected(refused, (
            soak_kinds20.rejected_values(path.read_text()) if path.exists() else []))
    every_scored = read_all(kafka, topics.scored, PARTITIONS, n + refused.total(),
                            timeout=120, settle=3.0)
    scored = [m for m in every_scored if (m.value() or b"") not in refused]
    scored_ids = Counter(json.loads(m.value() or b"{}").get("transaction_id") for m in scored)
    want = {t.transaction_id for t in txs}
    inputs = read_all(kafka, topics.input, PARTITIONS, end_offsets(kafka, topics.input),
                      timeout=120, settle=1.0)
    want_dead = soak_kinds.expected_dead(  # poison is no transaction: counted apart
        Counter(json.loads(m.value() or b"{}").get("transaction_id") for m in inputs
                if (m.value() or b"") not in poisoned))
    every_dead = read_all(kafka, topics.dlq, PARTITIONS,
                          want_dead.total() + poisoned.total(), timeout=60, settle=3.0)
    dead = [m for m in every_dead if (m.value() or b"") not in poisoned]
    dead_ids = Counter(json.loads(m.value() or b"{}").get("transaction_id") for m in dead)
    classes = Counter(headers_of(m).get("error.class") for m in dead)
    if chaos.poisoner is not None:
        result["poison"] = soak_kinds20.check(
            poisoned, chaos.poisoner.classes,
            [(m.value() or b"", headers_of(m).get("error.class")) for m in every_dead
             if (m.value() or b"") in poisoned])
    result.update({
        "scored_topic": {"messages": len(scored),
                         "missing": sorted(want - set(scored_ids))[:20],
                         "twice": sorted(i for i, c in scored_ids.items() if c > 1)[:20],
                         "unknown": sorted(str(i) for i in set(scored_ids) - want)[:20]},
        "dead_letters": {"messages": len(dead), "classes": dict(classes),
                         "copies_sent": copied.total(),
                         "resent_by_replay": want_dead.total() - copied.total(),
                         "expected": want_dead.total(),
                         "missing": sorted(i for i, c in want_dead.items()
                                           if dead_ids[i] < c)[:20],
                         "surplus": sorted(str(i) for i, c in dead_ids.items()
                                           if c > want_dead.get(i, 0))[:20]},
    })
    return {"seed": args.seed, "core": args.core, "transactions": n,
            "replay_starts": feed.starts,
            "events": chaos.events, "event_counts": dict(Counter(e["event"] for e in chaos.events)),
            "detector_starts": sum(d.starts for d in chaos.known.values()),
            "sink_starts": chaos.sink.starts, "unplanned": chaos.unplanned,
            "bad_exits": chaos.bad_exits, "zombies": zombies,
            "exit_codes": codes, "stream_s": stream_s,
            "drain_s": drain_s, "result": result}


def drain(chaos: Chaos, n: int, rows: Callable[[], int], lag: Callable[[], int | None],
          clock: Callable[[], float] = time.monotonic) -> float:
    """Wait (supervised) until the exports hold all `n` rows and the detectors' group has
    committed the input to its end (`lag` 0, asked once the rows are there); its seconds.
    The rows alone were not enough: seed 771's last second copies, dead letters only, were
    still unread when every row was exported, and the stop left 30 of 198 unwritten."""
    start = last_move = clock()
    seen: tuple[int, int | None] = (rows(), None)
    while seen[0] < n or seen[1] != 0:
        chaos.idle(0.5)
        now = clock()
        state = f"{seen[0]:,} of {n:,} rows, input lag {seen[1]}"
        assert now - last_move < DRAIN_STALL_S, f"drain stalled at {state}"
        assert now - start < DRAIN_MAX_S, f"drain not done: {state}"
        done = rows()
        if (now_seen := (done, lag() if done >= n else None)) != seen:
            seen, last_move = now_seen, now
    return round(clock() - start, 1)


def input_lag(kafka: KafkaSettings, topic: str, group: str) -> int | None:
    """The input messages `group` (the detectors') has not committed past: the sum over
    `topic`'s partitions of its end offset less the committed one (None: no answer)."""
    consumer = make_consumer(kafka, group)  # asks, never joins the group
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        committed = consumer.committed(parts, timeout=10)
        ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in parts]
    except KafkaException:
        return None
    finally:
        consumer.close()
    return sum(max(end - max(tp.offset, 0), 0) for tp, end in zip(committed, ends, strict=True))


def replay_env(env: dict[str, str]) -> dict[str, str]:
    """The replay's environment: its start and its last flush outlast a broker restart
    (down 5-30 s, then up to `BROKER_START_S` to start on a loaded machine): with the
    defaults seed 728's replay ended mid-outage with rows queued (exit 3), and seed 734's,
    started late, found the broker stopped and gave up after 30 s (exit 4)."""
    wait = str(BROKER_START_S + 60)
    return {**env, "PRODUCER_FLUSH_TIMEOUT_S": str(REPLAY_FLUSH_S),
            "KAFKA_STARTUP_WAIT_S": wait}


def mount_tmpfs(path: Path) -> bool:
    """Mount a tmpfs of `TMPFS_SIZE` at `path` (created); False if that fails."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755",
                           "tmpfs", str(path)], check=False, capture_output=True)
    return done.returncode == 0


def broker_control(home: Path | None) -> Callable[[str], None] | None:
    """`auditstream broker stop|start` of the broker at `home` (None: none to restart)."""
    if home is None:
        return None
    # a start at load 36-38 outlasted the default 90 s, and `broker start` stopped the
    # broker it had started (seeds 732-734)
    env = {**os.environ, "BROKER_HOME": str(home),
           "BROKER_START_TIMEOUT": str(BROKER_START_S)}

    def control(verb: str) -> None:
        done = subprocess.run([sys.executable, "-m", "auditstream", "broker", verb], env=env,
                              check=False, capture_output=True, text=True,
                              timeout=BROKER_START_S + 60)
        assert done.returncode == 0, f"broker {verb}: exit {done.returncode}: " + (
            done.stdout + done.stderr)[-2000:]
    return control


def diverged(report: dict[str, Any]) -> list[str]:
    """What of the report is a divergence (empty: none)."""
    r = report["result"]
    out = [k for k in ("lost", "duplicated", "changed", "unexpected", "tables_differing",
                       "tables_only_in_exports", "run_json_differing", "sink_rejected") if r[k]]
    out += [f"scored_topic.{k}" for k in ("missing", "twice", "unknown")
            if r["scored_topic"][k]]
    if r["scored_topic"]["messages"] != report["transactions"]:
        out.append("scored_topic.messages")
    d = r["dead_letters"]
    if d["missing"] or d["surplus"] or d["messages"] != d["expected"] or set(
            d["classes"]) - {"DuplicateTransaction"}:
        out.append("dead_letters")
    if "poison" in r:
        out += soak_kinds20.diverged(r["poison"])
    if "poison_scored" in r:
        out += soak_kinds20.diverged(r["poison_scored"], "poison_scored")
    out += [f"exit {k}={v}" for k, v in report["exit_codes"].items() if v != 0]
    out += report["bad_exits"]
    out += [f"unplanned: {u}" for u in report["unplanned"]]  # a supervisor had to step in
    out += [f"zombie {z}" for z in report["zombies"] if z.endswith("running")]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rate", type=float, default=250.0, help="replay messages/s")
    parser.add_argument("--events", type=int, default=12)
    parser.add_argument("--plan", type=lambda s: [k for k in s.split(",") if k],
                        help="these events in this order instead of --events drawn at random "
                             f"(kinds: {', '.join([*ALL_KINDS, 'pause_long'])})")
    parser.add_argument("--gap", type=float, default=9.0, help="most seconds between events")
    parser.add_argument("--core", choices=sorted(CORES), default="kernel")
    parser.add_argument("--keep", type=Path, help="copy the run's logs and exports here")
    parser.add_argument("--report", type=Path, help="write the report as JSON here")
    parser.add_argument("--broker-home", type=Path,
                        help="BROKER_HOME of the broker to restart (`restart_broker`; with "
                             "BROKER_PORT and BROKER_CONTROLLER_PORT of the environment)")
    args = parser.parse_args()
    if unknown := sorted(set(args.plan or ()) - {*ALL_KINDS, "pause_long"}):
        parser.error(f"--plan: no such event {', '.join(unknown)}")
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        print("chaos_soak: error: KAFKA_BOOTSTRAP_SERVERS is not set; start a broker "
              "(auditstream broker start) and export its address", file=sys.stderr)
        return 2
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"chaos-{args.seed}-"))
    report: dict[str, Any] = {"seed": args.seed, "work": str(work)}
    try:
        report = soak(args, KafkaSettings(), work)
        report["divergences"] = diverged(report)
    except Exception as exc:  # the soak's own failure too: reported, the logs kept
        report["divergences"] = [f"run failed: {exc!r}"[:3000]]
    report["runtime_s"] = round(time.monotonic() - started, 1)
    text = json.dumps(report, indent=1, default=str)
    print(text)
    if args.report:
        args.report.write_text(text)
    if args.keep:
        dest = args.keep / f"seed{args.seed}-{time.strftime('%H%M%S')}"
        shutil.copytree(work, dest, ignore=shutil.ignore_patterns("src", "state-*"))
        log(f"kept in {dest}")
    for mount in (work / "disk" / "exports", work / "exports", work / "disk"):
        if os.path.ismount(mount):  # a read-only bind left by a failed run, the tmpfs
            subprocess.run(["umount", "-l", str(mount)], check=False)
    if not report["divergences"]:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if report["divergences"] else 0


if __name__ == "__main__":
    sys.exit(main())
