"""When models are fitted and when they take over: both data-defined, the fit in a thread.

At each fit point F (`model.next_fit_point`) the sample's rows as of F are copied and forest
number k is fitted on them in a background thread; it takes over at position F + D (D =
`CoreConfig.refit_delay`; the first fit, with no model before it, is synchronous at F). If
the fit has not finished when the stream reaches F + D, the engine waits for it there
(`PendingFit.result`), so which rows a model scores never depends on timing, only on
positions, and each forest is the one a synchronous fit of the same rows and number gives.
D = 0 fits every model synchronously at its fit point, as before this module existed.

An error in the fit is raised, as the same exception object, where the model would take over
(a synchronous fit would have raised it at F). A pending fit is stored in snapshots and
checkpoints as its rows, number and position (`stateformat`): the rows are known at F,
so saving it never waits for the thread, and a restore starts the same fit again, taking
over where the state said. A restore under a lower `refit_delay` or earlier fit points
can start a fit that takes over no later than one still pending: the newer fit supersedes
the older (which is dropped unused), so forests only ever follow in fit order and refits
go on at every fit point.

The thread shares the GIL, and scikit-learn's fit is mostly Python: it spreads the fit over
the batches after F rather than taking its CPU off the scoring thread (docs/benchmarks.md,
"Issue 14: refits off the hot path").
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.typing import NDArray

from detector.core.config import CoreConfig
from detector.core.model import FeatureSample, FittedModel, fit_rows, next_fit_point


class PendingFit:
    """Forest `number`, fitted on `rows` in a thread, taking over at position `effective`."""

    def __init__(self, rows: NDArray[np.float32], number: int, effective: int,
                 cfg: CoreConfig, background: bool = True) -> None:
        self.rows, self.number, self.effective = rows, number, effective
        self._cfg = cfg
        self._model: FittedModel | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if background:
            # Not a daemon: an interpreter exiting waits for the fit (a fraction of a second)
            # rather than killing it inside native code.
            self._thread = threading.Thread(target=self._run, name=f"refit-{number}")
            self._thread.start()
        else:
            self._run()

    def _run(self) -> None:
        try:
            self._model = fit_rows(self.rows, self.number, self._cfg)
        except BaseException as exc:  # re-raised, unchanged, by `result`
            self._error = exc

    def join(self) -> None:
        """Wait for the fit to end (for shutdown and tests; `result` waits too)."""
        if self._thread is not None:
            self._thread.join()

    def result(self) -> FittedModel:
        """The fitted model, once the fit is done; the fit's own error if it failed."""
        self.join()
        if self._error is not None:
            raise self._error
        assert self._model is not None
        return self._model


class Refits:
    """A partition's fit schedule: how many fits have started and those not yet in effect."""

    def __init__(self, cfg: CoreConfig, fits: int = 0,
                 pending: list[PendingFit] | None = None, position: int = 0) -> None:
        """`pending`: a restored state's fits not yet in effect, the stream at `position`.
        One behind it (a state written while the queue was out of order, before
        `_supersede`) takes over at `position`, the newest of them superseding the rest."""
        self.cfg = cfg
        self.fits = fits
        self.pending: list[PendingFit] = []
        for p in sorted(pending or [], key=lambda p: p.number):
            p.effective = max(p.effective, position)
            self._supersede(p.effective)
            self.pending.append(p)

    def next_event(self, position: int) -> int:
        """The first position at or after `position` where a fit starts or a model takes
        over (the engine scores the rows between two events with one model call)."""
        event = next_fit_point(position, self.cfg)
        return min(event, self.pending[0].effective) if self.pending else event

    def step(self, position: int, sample: FeatureSample) -> FittedModel | None:
        """At an event `position` (the sample holding every row before it): start the fit
        due here, if any, and return the model that takes over here (None: no change)."""
        if next_fit_point(position, self.cfg) == position:
            self.fits += 1
            # The first model takes over at once: there is no model to keep scoring with,
            # and a delay would only leave rows without a model score.
            delay = self.cfg.refit_delay if self.fits > 1 else 0
            self._supersede(position + delay)
            self.pending.append(PendingFit(sample.view(), self.fits, position + delay,
                                           self.cfg, background=delay > 0))
        if self.pending and self.pending[0].effective == position:
            return self.pending.pop(0).result()
        return None

    def _supersede(self, effective: int) -> None:
        """Drop the pending fits a fit taking over at `effective` supersedes: those taking
        over at or after it. With one `refit_delay` and fit schedule there are none; after a
        restore under a lower delay or earlier fit points there can be, and they would put an
        older forest back over a newer one, or be left behind the stream (no event reached
        again: the partition would never refit). Their fits are waited for, not used."""
        for p in self.pending:
            if p.effective >= effective:
                p.join()
        self.pending = [p for p in self.pending if p.effective < effective]

    def close(self) -> None:
        """Wait for every fit still running (no thread outlives its engine's user)."""
        for p in self.pending:
            p.join()
