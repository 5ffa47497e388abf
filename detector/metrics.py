"""Operational signals: Prometheus metrics (off by default, loopback) and a periodic log line.

The endpoint serves on its own threads (one per connection, never the detector's loop):
only a request naming this server in `Host` (`shared.http_host`: an address, `localhost`
or DETECTOR_METRICS_HOST, with the port; a DNS-rebinding page names its own host: 421) is
answered, `GET /metrics` with metrics and `GET /health` with the container check's
verdict (200 healthy, 503 not, the reason as text: detector.health); 404 elsewhere, 405 for
other methods; a connection silent for `REQUEST_TIMEOUT_S` is closed, and the registry holds
the detector's counters alone (no settings, no process or platform collector).
"""

from __future__ import annotations

import errno
import faulthandler
import ipaddress
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from detector.health import PATH as HEALTH_PATH
from detector.health import Pulse
from shared.entry import port_in_use_is
from shared.errors import UsageError
from shared.http_host import host_refusal

log = logging.getLogger("detector")

PATH = "/metrics"
#: Seconds a scraper's connection may stay silent before it is closed (its thread freed).
REQUEST_TIMEOUT_S = 10.0
#: A tuple: wsgiref adds Content-Length to the very list a reply's headers are given in, so
#: a shared list carried one reply's length into the next (a 405 after a 404 said 39 bytes).
_TEXT = (("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff"))

_App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _only_metrics(metrics_app: _App, pulse: Pulse, port: int, host: str) -> _App:
    """`metrics_app` on `GET /metrics` only (the library serves any path and OPTIONS), the
    health verdict on `GET /health`; nothing to a request that names another server in
    `Host` (a DNS-rebinding page: `shared.http_host`; `host` is the bound name)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # wsgiref joins repeated headers with commas: two Hosts are two values here
        hosts = environ["HTTP_HOST"].split(",") if "HTTP_HOST" in environ else []
        if refused := host_refusal(hosts, port, (host,)):
            status, why = refused
            start_response(f"{status.value} {status.phrase}", list(_TEXT))
            return [f"{why}; ask 127.0.0.1:{port} or localhost:{port} (or an address of "
                    "this machine)\n".encode()]
        path = environ.get("PATH_INFO")
        if path not in (PATH, HEALTH_PATH):
            start_response("404 Not Found", list(_TEXT))
            return [f"not found; the metrics are at {PATH}, the health at {HEALTH_PATH}\n"
                    .encode()]
        if environ.get("REQUEST_METHOD") != "GET":
            start_response("405 Method Not Allowed", [*_TEXT, ("Allow", "GET")])
            return [b"method not allowed; use GET\n"]
        if path == HEALTH_PATH:
            verdict = pulse.verdict()
            start_response("200 OK" if verdict.healthy else "503 Service Unavailable",
                           list(_TEXT))
            return [f"{verdict.line()}\n".encode()]

        def start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            return start_response(status, [*headers, _TEXT[1]], *rest)

        return metrics_app(environ, start)

    return app


class _Handler(WSGIRequestHandler):
    """Quiet, and drops a connection that stays silent (else it holds a thread for ever)."""

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(REQUEST_TIMEOUT_S)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:  # timed out, or the scraper went away mid-request
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing (a scrape every 15 s)."""


@dataclass
class _Window:
    records: int = 0
    dead: int = 0
    batches: int = 0
    batch_seconds: float = 0.0
    batch_max: float = 0.0
    commits: int = 0
    aborts: int = 0
    started: float = field(default_factory=time.monotonic)


class Metrics:
    """Counts what the detector does; exposes it on `port` (127.0.0.1) when a port is given."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self._window = _Window()
        self.total_records = 0
        self.total_dead = 0
        self._prom: dict[str, Any] = {}
        #: What the loop last did, for `GET /health` (detector.health).
        self.pulse = Pulse()
        if port is not None:
            self._start_http(port, host)

    def _start_http(self, port: int, host: str) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app

        reg = CollectorRegistry()
        self._prom = {
            "records": Counter("detector_records", "transactions scored", registry=reg),
            "dead": Counter("detector_dead_letters", "messages sent to the DLQ", registry=reg),
            "commits": Counter("detector_transactions_committed", "commits", registry=reg),
            "aborts": Counter("detector_transactions_aborted", "aborts", registry=reg),
            "batch": Histogram(
                "detector_batch_seconds", "time to process one consumed batch", registry=reg,
                buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            ),
            "restore": Histogram(
                "detector_restore_seconds", "time to restore a partition's state", registry=reg,
                buckets=(0.01, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0),
            ),
            "lag": Gauge("detector_consumer_lag", "records behind the input's end", ["partition"],
                         registry=reg),
        }
        try:
            with port_in_use_is(f"metrics port {host}:{port} is in use; give another "
                                "--metrics-port (DETECTOR_METRICS_PORT)"):
                family, *_, address = socket.getaddrinfo(
                    host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
                server_class = type("MetricsServer", (ThreadingWSGIServer,),
                                    {"address_family": family})
                httpd: WSGIServer = make_server(
                    str(address[0]), port,
                    _only_metrics(make_wsgi_app(reg), self.pulse, port, host),
                    server_class, handler_class=_Handler)
        except OSError as exc:  # a name that does not resolve, an address of another host
            if not isinstance(exc, socket.gaierror) and exc.errno != errno.EADDRNOTAVAIL:
                raise
            raise UsageError(f"cannot serve metrics on {host!r} ({exc.strerror}); "
                             "DETECTOR_METRICS_HOST must be an address of this machine "
                             "(default 127.0.0.1)") from None
        threading.Thread(target=httpd.serve_forever, name="detector-metrics",
                         daemon=True).start()
        log.info("metrics on http://%s:%d%s", host, port, PATH)
        if not ipaddress.ip_address(str(address[0])).is_loopback:
            log.warning("metrics on %s:%d are reachable from other machines (no "
                        "authentication; counters and timings only); set "
                        "DETECTOR_METRICS_HOST=127.0.0.1 to keep them on this one",
                        host, port)

    def batch(self, records: int, dead: int, seconds: float) -> None:
        w = self._window
        w.records += records
        w.dead += dead
        w.batches += 1
        w.batch_seconds += seconds
        w.batch_max = max(w.batch_max, seconds)
        self.total_records += records
        self.total_dead += dead
        if self._prom:
            self._prom["records"].inc(records)
            self._prom["dead"].inc(dead)
            self._prom["batch"].observe(seconds)

    def committed(self) -> None:
        self._window.commits += 1
        self.pulse.progressed()
        if self._prom:
            self._prom["commits"].inc()

    def aborted(self) -> None:
        self._window.aborts += 1
        if self._prom:
            self._prom["aborts"].inc()

    def restored(self, seconds: float) -> None:
        self.pulse.turned()  # a long assignment restores partition after partition
        if self._prom:
            self._prom["restore"].observe(seconds)

    def due(self, interval_s: float) -> bool:
        return time.monotonic() - self._window.started >= interval_s

    def report(self, lag: dict[int, int], model_versions: set[str]) -> str:
        """Log one line about the last window and start a new one; return the line."""
        w = self._window
        elapsed = max(time.monotonic() - w.started, 1e-9)
        mean_ms = 1000 * w.batch_seconds / w.batches if w.batches else 0.0
        line = (
            f"rate {w.records / elapsed:,.0f} tx/s, lag {sum(lag.values()):,}, "
            f"batch mean {mean_ms:.1f} ms max {1000 * w.batch_max:.1f} ms, "
            f"dlq {w.dead}, commits {w.commits}, aborts {w.aborts}, "
            f"partitions {sorted(lag)}, model {','.join(sorted(model_versions)) or '-'}"
        )
        log.info("%s", line)
        if self._prom:
            for p, value in lag.items():
                self._prom["lag"].labels(partition=str(p)).set(value)
        self._window = _Window()
        return line


def run_queue_wait(tid: int | None) -> float | None:
    """Seconds thread `tid` of this process has waited on a run queue, runnable but not
    running (Linux: /proc/self/task/<tid>/schedstat, its second field, ns); None where
    unknown (no such thread, no /proc, or a kernel that keeps no such counts: without
    schedstats or delay accounting it says 0 for the time run too, which a thread that ran
    never has)."""
    if tid is None:
        return None
    try:
        with open(f"/proc/self/task/{tid}/schedstat", "rb") as f:
            ran, waited = f.read().split()[:2]
        return int(waited) / 1e9 if int(ran) > 0 else None
    except (OSError, ValueError):  # no such thread or file; not two numbers
        return None


def not_runnable_since_start() -> tuple[float, float] | None:
    """(seconds since this process started, seconds of them its calling thread was neither
    running nor waiting to run): a stop (SIGSTOP, a frozen VM), a block (a read from a cold
    disk, a lock) or a sleep alike, which /proc does not tell apart; None where unknown (no
    /proc, no schedstats). Read before any network wait, it is the start-up's (the imports,
    the core's load), which no watchdog thread sees: none runs yet."""
    try:
        with open("/proc/self/stat", "rb") as f:
            started = int(f.read().rsplit(b")", 1)[1].split()[19])  # field 22, clock ticks
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat", "rb") as f:
            ran, waited = (int(v) for v in f.read().split()[:2])
    except (OSError, ValueError, IndexError):
        return None
    if ran <= 0:  # a kernel that keeps no such counts
        return None
    age = time.clock_gettime(time.CLOCK_BOOTTIME) - started / os.sysconf("SC_CLK_TCK")
    return age, max(age - (ran + waited) / 1e9, 0.0)


class _Open:
    """A guarded step in progress: its name and when its clock (re)started."""

    __slots__ = ("started", "step")

    def __init__(self, step: str, started: float) -> None:
        self.step = step
        self.started = started


class Watchdog:
    """Ends the process when a guarded call blocks longer than `limit_s` (a stuck client
    call cannot be cancelled; a restart with the same transactional.id resumes exactly).

    A check that runs over a whole interval late means the process, the watchdog with it,
    was not running (SIGSTOP, a frozen container, a debugger): the open step's clock
    restarts, it gets its whole bound again, and one WARNING names the pause. A check late
    while the process was busy (its CPU time, every thread's, advanced by at least half the
    time) is no pause: a compiled call holding the GIL (the kernel, a restore) kept the
    watchdog waiting, and a step over its bound then trips as before. Nor is a check late
    while the watchdog's thread waited on the run queue for at least half the lateness (an
    overloaded machine; a stopped thread does not wait): `waited`, by default that thread's
    own wait (`run_queue_wait`; the kernel counts a wait when it ends: `paused_within`,
    asked from another thread while that thread's check is overdue, waits up to an
    interval for that check, which reads the wait just ended; still none, it judges alone
    and takes the wait so far for a pause, the safe side for a zombie).
    Where it is unknown (no /proc: not Linux) late and not busy is a pause, as before.
    Time is `time.monotonic` (CLOCK_MONOTONIC on Linux): a stop advances it (seen as a
    pause), a system suspend does not (the step's clock stands still meanwhile)."""

    def __init__(self, limit_s: float, clock: Callable[[], float] = time.monotonic,
                 run: bool = True, cpu: Callable[[], float] = time.process_time,
                 waited: Callable[[], float | None] | None = None) -> None:
        self._limit = limit_s
        self.interval = min(1.0, limit_s / 4)
        self._clock = clock
        self._cpu = cpu
        self._waited = waited if waited is not None else lambda: run_queue_wait(self.tid)
        self._open: _Open | None = None
        #: When the last pause was seen (its wake-up, on `clock`), of any length; None: never.
        self.paused_at: float | None = None
        #: The pauses seen that no later one outlasted, as (wake-up, length: the time since
        #: the check before, at least the stop's), the longest first: what `last_pause`
        #: answers from (a late check after a long stop does not hide the stop).
        self._pauses: list[tuple[float, float]] = []
        #: The watchdog thread's native id (None: no thread).
        self.tid: int | None = None
        #: One check at a time (the watchdog's thread and `paused_within`'s): a check reads
        #: and updates the readings below and the pause's marks together.
        self._lock = threading.Lock()
        self._checked = clock()
        self._cpu_checked = cpu()
        self._waited_checked: float | None = None
        #: Checks of the watchdog's own thread so far (`own_check`), under their condition.
        self._own_checks = 0
        self._own_checked = threading.Condition()
        if run:
            thread = threading.Thread(target=self._watch, name="detector-watchdog", daemon=True)
            thread.start()  # returns once the thread runs: its native id is known
            self.tid = thread.native_id
        with self._lock:
            self._waited_checked = self._waited()

    @contextmanager
    def guard(self, step: str) -> Iterator[None]:
        self._open = _Open(step, self._clock())
        try:
            yield
        finally:
            self._open = None

    def check(self) -> str | None:
        """The step blocked for over the bound, if one is; restarts the clock after a pause.
        Safe from any thread: the readings, the step's restart and the pause's marks change
        under one lock, and the WARNING is written after it (another thread's check
        meanwhile sees the whole pause)."""
        with self._lock:
            now, cpu, waited = self._clock(), self._cpu(), self._waited()
            span, self._checked = now - self._checked, now
            busy, self._cpu_checked = cpu - self._cpu_checked, cpu
            before, self._waited_checked = self._waited_checked, waited
            late = span - self.interval
            step = self._open
            # Late, not busy, and not kept waiting to run: stopped, a pause.
            paused = (late > self.interval and busy < span / 2
                      and (waited is None or before is None or waited - before < late / 2))
            if paused:
                if step is not None:
                    step.started = now  # a step that ended meanwhile is no longer read
                self.paused_at = now
                self._pauses = [p for p in self._pauses if p[1] > span] + [(now, span)]
            blocked = (step.step if not paused and step is not None
                       and now - step.started > self._limit else None)
        if paused:
            log.warning("the process was paused about %.0f s (the watchdog ran that late); "
                        "%s", late, f"{step.step} gets its {self._limit:.0f} s again"
                        if step is not None else "no step was open")
        return blocked

    def paused_within(self, seconds: float, since: float | None = None) -> bool:
        """Whether the process was seen paused (`check`, run now too) in the last `seconds`,
        or at `since` (on `clock`) or later: a zombie's precondition, asked before the group
        is described (that admin call can abort the process when the broker's connection
        drops: librdkafka #4605)."""
        self._await_own_check()
        self.check()
        return self.paused_at is not None and (
            self._clock() - self.paused_at <= seconds
            or (since is not None and self.paused_at >= since))

    def last_pause(self, at_least: float) -> float | None:
        """When the last pause of `at_least` seconds or more was seen (its wake-up, on
        `clock`; `check` run now too); None: none was. A pause's length is the time since
        the check before it: a stop of that length always counts, one up to an interval
        shorter may (`Transactions._newest`: whether a pause could have let a newer process
        take the id, not a check a second late on a loaded machine)."""
        self._await_own_check()
        self.check()
        return max((at for at, span in self._pauses if span >= at_least), default=None)

    def own_check(self) -> str | None:
        """A check of the watchdog's own thread (its loop's), counted for `paused_within`."""
        blocked = self.check()
        with self._own_checked:
            self._own_checks += 1
            self._own_checked.notify_all()
        return blocked

    def _await_own_check(self) -> None:
        """Asked from another thread while the watchdog's check is overdue (a check now would
        be over an interval late): wait up to an interval for its own thread's check. That
        thread, starved, has its wait counted only once it runs (a check made for it before
        reads no wait and sees a pause); just continued from a stop, it runs at once."""
        if self.tid is None or threading.get_native_id() == self.tid:
            return
        with self._own_checked:
            seen = self._own_checks
            if self._clock() - self._checked > 2 * self.interval:
                self._own_checked.wait_for(lambda: self._own_checks > seen, self.interval)

    def now(self) -> float:
        """The time on the watchdog's clock (what `paused_within`'s `since` is given on)."""
        return self._clock()

    def _watch(self) -> None:
        while True:
            time.sleep(self.interval)
            blocked = self.own_check()
            if blocked is not None:
                log.critical("%s blocked for over %.0f s; exiting so that a restart resumes",
                             blocked, self._limit)
                faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
                os._exit(3)
