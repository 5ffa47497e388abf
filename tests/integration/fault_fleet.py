"""The fault suite's fleet: the detectors and the sink it runs, restarts and reports on.

Kept apart from the suite (tests/integration/test_fault_suite.py) so that its bookkeeping
is tested without a broker (tests/unit/test_fault_suite_fleet.py).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.detector_harness import FAULTS_ENV
from tests.integration.pipeline_harness import (
    Feeder,
    Service,
    committed_rows,
    detector,
    wait_until,
)

SEED = int(os.environ.get("AUDITSTREAM_FAULT_SEED", "20261124"))
DETECTOR_ENV = {"DETECTOR_SNAPSHOT_EVERY": "4000"}  # restores use snapshot + replay
#: Exceptions at random steps of every detector's batches (off: AUDITSTREAM_FAULT_EXCEPTIONS=0).
EXCEPTIONS = os.environ.get("AUDITSTREAM_FAULT_EXCEPTIONS", "1") != "0"
#: A detector logs a line every 2 s (DETECTOR_LOG_INTERVAL_S); this long without one is a hang.
#: Longer than the detector's own watchdog (45 s, exit 3 for a stuck transaction step): a
#: fresh producer's init_transactions may wait that long for the transaction coordinator to
#: load after the broker restart (seen once at 30 s in a CI check), which the watchdog, not
#: the suite, must judge; the suite still fails on any silence the watchdog does not end.
HANG_S = 60.0
#: The drain after the replay fails after this long without a committed row, or this long
#: in all (see `drain`).
DRAIN_STALL_S, DRAIN_MAX_S = 180.0, 1200.0
#: Lines of a log shown when its process ended unplanned or the run failed.
LAST_LINES = 40
#: A folder to copy every log of a failed run into (pytest's own folders are rotated away
#: by later runs, which is how the logs of an unexplained failure were once lost).
KEEP_LOGS = os.environ.get("AUDITSTREAM_FAULT_KEEP_LOGS")


def tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a log (librdkafka's connection noise left out)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    kept = [line for line in text.splitlines() if "Connection refused" not in line]
    return kept[-lines:]


def keep_logs(logs: Path, into: str) -> Path:
    """Copy every log of the run into a new folder under `into`; return that folder."""
    dest = Path(into) / f"{time.strftime('%Y%m%dT%H%M%S')}-seed{SEED}-{os.getpid()}"
    dest.mkdir(parents=True, exist_ok=True)
    for log in sorted(logs.glob("*.log")):
        shutil.copy2(log, dest / log.name)
    return dest


@dataclass
class Fleet:
    """The running detectors and the sink; restarts whatever died without being asked to.

    Everything else the suite starts (the replay, the offline reference, a second sink, the
    feeders) is handed to `track`, so that `close` stops it too, on a failure as well."""

    env: dict[str, str]
    logs: Path
    sink: Service
    detectors: dict[str, Service] = field(default_factory=dict)
    retired: list[Service] = field(default_factory=list)
    #: The suite's other processes and feeder threads (`track`).
    others: list[Service] = field(default_factory=list)
    feeders: list[Feeder] = field(default_factory=list)
    unplanned: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    #: The last lines of each log whose process exited unplanned or hung (by log file name).
    last_words: dict[str, list[str]] = field(default_factory=dict)

    def start_detector(self, name: str) -> Service:
        """Start detector `name`, or start it again: every start has its own fault seed (the
        same schedule after each restart from the same offsets would hit the same record
        every time, a poison pill of the suite's own making)."""
        det = self.detectors.get(name)
        if det is None:
            det = detector(name, {**self.env, **DETECTOR_ENV,
                                  "DETECTOR_STATE_DIR": str(self.logs / f"state-{name}")},
                           self.logs)
            if EXCEPTIONS:  # the detector with the tests' fault hook (seeded per start)
                det = Service(det.name, ("tests.integration.detector_harness",), det.env,
                              det.log_dir)
        if EXCEPTIONS:
            det.env[FAULTS_ENV] = f"{SEED}:{name}:{det.starts + 1}"
        self.detectors[name] = det.start()
        return det

    def retire(self, name: str) -> int:
        """Stop detector `name` for good (SIGTERM); return its exit code."""
        det = self.detectors.pop(name)
        self.retired.append(det)
        return det.terminate()

    def idle(self, seconds: float) -> None:
        """Let the pipeline run for `seconds`, restarting anything that dies meanwhile."""
        end = time.monotonic() + seconds
        wait_until(lambda: time.monotonic() >= end, seconds + 10, "idle", self.check)

    def check(self) -> None:
        for name, det in self.detectors.items():
            if not det.alive():
                self._ended(det, f"detector {name} exited {det.proc and det.proc.poll()}",
                            self.unplanned)
                self.start_detector(name)
            elif det.silent_for() > HANG_S:
                last = tail(det.log_path, 1)
                self._ended(det, f"{det.log_path.name}: silent {HANG_S:.0f} s after {last}",
                            self.hangs)
                det.kill()  # a supervisor's liveness probe would do the same
                self.start_detector(name)
        if not self.sink.alive():
            self._ended(self.sink, f"sink exited {self.sink.proc and self.sink.proc.poll()}",
                        self.unplanned)
            self.sink.start()

    def _ended(self, service: Service, what: str, into: list[str]) -> None:
        """Record an unplanned end with its log's last lines (the next start has its own log)."""
        into.append(f"{what} ({service.log_path.name})")
        self.last_words[service.log_path.name] = tail(service.log_path, LAST_LINES)

    def diagnosis(self, exports: Path, expected: int) -> str:
        """What a failed run needs to be understood after its folder is gone: the unplanned
        exits and hangs with their logs' last lines, the sink's progress, each current log's
        last lines."""
        out = [f"fault suite failed (seed {SEED}): {committed_rows(exports):,} of "
               f"{expected:,} rows committed by the sink; logs in {self.logs}",
               f"unplanned exits: {self.unplanned}", f"hangs: {self.hangs}"]
        for name, lines in self.last_words.items():
            out += [f"--- last lines of {name} (ended unplanned) ---", *lines]
        for svc in [*self.detectors.values(), self.sink]:
            if svc.log_path.exists():
                state = "running" if svc.alive() else f"exited {svc.proc and svc.proc.poll()}"
                out += [f"--- last lines of {svc.log_path.name} ({state}) ---",
                        *tail(svc.log_path, LAST_LINES)]
        for feeder in self.feeders:
            state = "feeding" if feeder.is_alive() else f"ended: {feeder.error!r}"[:300]
            out.append(f"--- feeder to {feeder.topic}: {feeder.produced} of "
                       f"{len(feeder.items)} produced, {feeder.undelivered} undelivered "
                       f"({state}) ---")
            if feeder.log is not None:
                out += tail(feeder.log, LAST_LINES)
        return "\n".join(out)

    def stop_all(self) -> dict[str, int]:
        """Stop the sink and the current detectors (SIGTERM); their exit codes."""
        codes = {"sink": self.sink.terminate()}
        codes.update({f"detector {n}": d.terminate() for n, d in self.detectors.items()})
        return codes

    def track(self, started: Service | Feeder) -> None:
        """Have `close` stop `started` (a process or a feeder) too."""
        if isinstance(started, Feeder):
            self.feeders.append(started)
        else:
            self.others.append(started)

    def close(self) -> list[str]:
        """Stop every process and feeder still running (SIGTERM, then SIGKILL): nothing the
        suite started outlives it, whatever failed. Returns the log names of the processes
        it stopped (none after a clean `stop_all`)."""
        for feeder in self.feeders:
            feeder.stop()
        stopped = []
        for svc in [*self.detectors.values(), *self.retired, self.sink, *self.others]:
            if svc.alive():
                stopped.append(svc.log_path.name)
                svc.terminate(10)
        for feeder in self.feeders:
            if feeder.is_alive():
                feeder.join(10)
        return stopped

    @contextmanager
    def supervised(self, exports: Path, expected: int,
                   broker: Callable[[], list[str]] | None = None) -> Iterator[Fleet]:
        """The suite's body: on any failure print `diagnosis` and what `broker` finds (and
        keep the logs when AUDITSTREAM_FAULT_KEEP_LOGS says so); on any end `close` the
        fleet."""
        try:
            yield self
        except BaseException:
            print("\n" + self.diagnosis(exports, expected), flush=True)
            if broker is not None:
                try:
                    lines = broker()
                except Exception as exc:  # the run's own failure is the one to raise
                    lines = [f"failed: {exc!r}"]
                print("\n".join(["--- the broker, asked by new clients ---", *lines]),
                      flush=True)
            if KEEP_LOGS:
                print(f"logs kept in {keep_logs(self.logs, KEEP_LOGS)}", flush=True)
            raise
        finally:
            if stopped := self.close():
                print(f"stopped, still running at the end: {stopped}", flush=True)


def drain(exports: Path, expected: int, check: Callable[[], None]) -> float:
    """Wait until the sink has committed `expected` rows; return the seconds it took.

    Fails when no row was committed for `DRAIN_STALL_S` (a stall), or after `DRAIN_MAX_S`
    in all. Not a fixed budget: on a machine loaded by other runs the catch-up (every fault
    rewinds every partition) once took 118 s at load 3 and far longer at load 14, while
    making progress all along; how fast is the benchmarks' question, not this suite's.
    """
    start = last_move = time.monotonic()
    done = committed_rows(exports)
    while done < expected:
        check()
        now = time.monotonic()
        assert now - last_move < DRAIN_STALL_S, (
            f"drain: no row committed for {DRAIN_STALL_S:.0f} s ({done:,} of {expected:,})")
        assert now - start < DRAIN_MAX_S, (
            f"drain: not within {DRAIN_MAX_S:.0f} s ({done:,} of {expected:,})")
        time.sleep(0.25)
        rows = committed_rows(exports)
        if rows > done:
            done, last_move = rows, time.monotonic()
    return time.monotonic() - start
