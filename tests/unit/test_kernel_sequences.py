"""The kernel and the core driven through the same random sequence of what a detector does
to its engine: batches of any size, incremental checkpoints, careful isolation's copies,
restores from a snapshot, resumes from the checkpoints' records as a restart reads them
from the state topic (`encode_checkpoint`, `CheckpointAssembler`), under small bounds and
few customers in slots, so customers are parked, unparked, evicted and expired in between.
Every verdict, checkpoint and snapshot must be the core's at every step, and every verdict
that of a core engine that only ever saw the batches (hypothesis). A trial runs rows on
copies and throws them away, as isolation does when a sub-batch fails: the engines it
copied must not move."""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.checkpoints import CheckpointAssembler, Ledger, encode_checkpoint, state_prefix
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from tests.ci import IN_CI
from tests.unit.cores import use
from tests.unit.kernel_rows import generated

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

_ENCODE = msgspec.json.Encoder()
OPS = ("batch", "checkpoint", "clone", "trial", "restore", "resume")
PREFIX = state_prefix("g", "t", 0)


@cache
def _stream(seed: int) -> list[Any]:
    return generated(seed=seed, customers=30, days=6, late_every=7 + seed)


def _engines(monkeypatch: pytest.MonkeyPatch, make: Any) -> tuple[Any, Any]:
    monkeypatch.setenv("AUDITSTREAM_CORE", "python")
    core = make()
    monkeypatch.setenv("AUDITSTREAM_CORE", "kernel")
    kernel = make()
    assert core._kernel is None and kernel._kernel is not None
    return core, kernel


@settings(max_examples=40 if IN_CI else 15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 3), hot=st.integers(1, 8), most=st.integers(6, 40),
       ttl_hours=st.integers(6, 72), first_fit=st.sampled_from([300, 10**9]),
       ops=st.lists(st.tuples(st.sampled_from(OPS), st.integers(1, 400)), min_size=1,
                    max_size=14))
def test_any_sequence_of_batches_checkpoints_copies_restores_and_resumes_keeps_the_cores_outputs(
        monkeypatch: pytest.MonkeyPatch, seed: int, hot: int, most: int, ttl_hours: int,
        first_fit: int, ops: list[tuple[str, int]]) -> None:
    use("kernel", monkeypatch)
    config = CoreConfig(hot_customers=hot, max_customers=most,
                        customer_ttl_s=3600.0 * ttl_hours, first_fit_after=first_fit,
                        refit_every=400, refit_delay=50)
    txs = _stream(seed)
    core, kernel = _engines(monkeypatch, lambda: PartitionEngine(config, 0))
    monkeypatch.setenv("AUDITSTREAM_CORE", "python")
    plain = PartitionEngine(config, 0)  # never copied, checkpointed nor restored
    ledger, topic = Ledger(), []  # the state topic's records, as the detector writes them
    at = 0
    for op, k in [*ops, ("batch", len(txs))]:  # then the rest of the stream
        if op == "batch":
            rows = txs[at:at + k]
            at += len(rows)
            want = [_ENCODE.encode(v) for v in core.verdicts(rows)]
            got = [_ENCODE.encode(v) for v in kernel.verdicts(rows)]
            assert [i for i, (a, b) in enumerate(zip(want, got, strict=True)) if a != b] == []
            assert [_ENCODE.encode(v) for v in plain.verdicts(rows)] == want
        elif op == "clone":  # careful isolation carries on with the copy
            core, kernel = core.clone(), kernel.clone()
        elif op == "trial":  # ... or runs rows on it and throws it away
            rows = txs[at:at + k]
            assert ([_ENCODE.encode(v) for v in kernel.clone().verdicts(rows)]
                    == [_ENCODE.encode(v) for v in core.clone().verdicts(rows)])
        elif op == "restore":
            snap = kernel.snapshot()
            assert snap == core.snapshot()
            core, kernel = _engines(monkeypatch, lambda s=snap: PartitionEngine.restore(
                s, config))
        else:  # a checkpoint, and for "resume" a restart that reads the state topic
            changes = kernel.checkpoint()
            want_c = core.checkpoint()
            assert (changes.customers, changes.removed, changes.parts, changes.count) == (
                want_c.customers, want_c.removed, want_c.parts, want_c.count)
            topic += encode_checkpoint(PREFIX, at, changes, ledger, 64 * 1024)
            if op == "resume":  # read as a restart reads the state topic
                reader = CheckpointAssembler(PREFIX)
                for r in topic:
                    reader.feed(r.key, r.value, r.headers)
                got_back = reader.result()
                assert got_back is not None and got_back.next_offset == at
                core, kernel = _engines(monkeypatch, lambda r=got_back: PartitionEngine.resume(
                    r.parts, r.customers, config))
    assert at == len(txs)
    assert kernel.snapshot() == core.snapshot()  # not `plain`'s: checkpoints count records
    assert kernel.customers == core.customers == plain.customers
