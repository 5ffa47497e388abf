"""The detector's health: what its loop last did (`Pulse`, served as `GET /health` by its
metrics endpoint), and `python -m detector.health`, the container's check, which asks it.

The check exits 0 when the endpoint answers 200 (healthy), else 1, and prints the reason
(Docker keeps it: `docker inspect --format '{{json .State.Health}}'`). It needs
DETECTOR_METRICS_PORT (the endpoint is off without it); it asks 127.0.0.1 (or ::1) when
DETECTOR_METRICS_HOST is an any-address. The decision itself is `shared.health.judge`.
"""

from __future__ import annotations

import http.client
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from shared.health import Bounds, Signs, Verdict, judge

PATH = "/health"
#: The longest a loop turn may take (s): a batch, a commit (the watchdog ends one blocked
#: for 45 s), a partition's restore (each restore counts as a turn).
BEAT_S = 120.0
#: The longest the detector may commit nothing while messages wait for it (s).
STALL_S = 120.0
BOUNDS = Bounds(beat_s=BEAT_S, stall_s=STALL_S)
#: How often the loop notes how many messages wait (s; cached partition ends, no request).
LAG_EVERY_S = 5.0
#: The check's own wait for an answer (s): below the healthcheck's `timeout`, so the check
#: reports why rather than Docker saying it timed out.
PROBE_TIMEOUT_S = 5.0


class Pulse:
    """What the detector's loop last did, written by the loop and read by the endpoint's
    threads (each a single attribute: no lock needed)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.beat: float | None = None  # the loop's last turn
        self.progress: float | None = None  # the last commit (or the first turn)
        self.lag: int | None = None  # messages waiting, as last noted
        self._lag_at = 0.0

    def turned(self) -> None:
        now = self._clock()
        if self.beat is None:
            self.progress = now  # a backlog is measured from the loop's start, not before
        self.beat = now

    def progressed(self) -> None:
        self.progress = self._clock()

    def lag_due(self) -> bool:
        return self.beat is None or self._clock() - self._lag_at >= LAG_EVERY_S

    def noted_lag(self, lag: int | None) -> None:
        self.lag, self._lag_at = lag, self._clock()

    def signs(self) -> Signs:
        now = self._clock()
        beat, progress = self.beat, self.progress
        return Signs(beat_age_s=None if beat is None else now - beat, lag=self.lag,
                     stalled_s=None if progress is None else now - progress)

    def verdict(self) -> Verdict:
        return judge(self.signs(), BOUNDS)


def probe_url(host: str, port: int) -> str:
    """The endpoint's health address as seen from inside the detector's own host."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}{PATH}" if ":" in host else f"http://{host}:{port}{PATH}"


def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> Verdict:
    """Ask the endpoint at `url`; anything but its 200 is unhealthy."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return Verdict(True, _reason(reply.read()))
    except urllib.error.HTTPError as exc:
        return Verdict(False, _reason(exc.read()) or f"{url} answered {exc.code}")
    except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, timed out,
        reason = getattr(exc, "reason", exc)  # reset, a reply cut short
        return Verdict(False, f"the detector's metrics endpoint {url} does not answer "
                              f"({reason}): not started yet, or the process is gone")


def _reason(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text.partition(": ")[2] or text


def main() -> int:
    from detector.settings import DetectorSettings
    from shared.entry import run_guarded

    def check() -> int:
        s = DetectorSettings()
        if s.metrics_port is None:
            verdict = Verdict(False, "no health endpoint: DETECTOR_METRICS_PORT is unset")
        else:
            verdict = probe(probe_url(s.metrics_host, s.metrics_port))
        print(verdict.line())
        return 0 if verdict.healthy else 1

    # Docker reads 0 as healthy, 1 as unhealthy (2 is reserved): a bad setting is 1 too.
    return 0 if run_guarded("python -m detector.health", check) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
