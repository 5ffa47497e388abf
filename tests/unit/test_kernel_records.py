"""Checkpoint records written by compiled code (detector/kernel/records.py): for every slot
a real stream leaves (default and small bounds: rings gone round, held events), for strings
JSON must escape and held events written before the weights, the bytes of
`stateparts.encode_fields` over `slots.field_rows`, exactly; orjson writes a numpy float
array as it writes the same floats in a list."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.core.config import CoreConfig
from detector.core.state import CustomerState
from detector.core.stateparts import encode_fields
from detector.kernel import records
from detector.kernel import slots as sl
from detector.kernel.refs import as_ref
from detector.kernel.rows import KernelRows
from tests.ci import IN_CI
from tests.unit.random_slots import random_slots, streamed_rows

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")


def _expected(rows: KernelRows, cs: np.ndarray, seq: int) -> list[bytes]:
    return [encode_fields(seq + i, row)
            for i, row in enumerate(sl.field_rows(rows._slots, cs, rows.codes))]


def _written(rows: KernelRows, cs: np.ndarray, seq: int) -> list[bytes]:
    words = records.Words()
    words.update(rows.codes.values)
    seqs = np.arange(seq, seq + len(cs), dtype=np.int64)
    return records.records(rows._s, rows._slots, cs, seqs, words)


@pytest.mark.parametrize("config", [
    CoreConfig(first_fit_after=10**9),
    CoreConfig(first_fit_after=10**9, max_seen=3, amount_history=4, context_size=2),
], ids=["defaults", "small bounds: rings gone round"])
def test_the_records_are_encode_fields_byte_for_byte(
        monkeypatch: pytest.MonkeyPatch, config: CoreConfig) -> None:
    rows = streamed_rows(monkeypatch, config, seed=12, customers=40, days=9, late_every=7)
    used = np.flatnonzero(rows._entry_of >= 0)
    s = rows._slots
    assert (s.pend_len[used] > 0).any() and (s.ctx_len[used] > 0).any()
    assert _written(rows, used, 17) == _expected(rows, used, 17)
    assert _written(rows, used[::-1], 0) == _expected(rows, used[::-1], 0)
    assert _written(rows, used[:1], 10**12) == _expected(rows, used[:1], 10**12)
    assert _written(rows, used[:0], 0) == []


def test_strings_json_escapes_bare_held_events_and_odd_floats(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every string a record holds written as orjson writes it (quotes, backslashes,
    non-ASCII, an empty one); a held event of 7 values (restored from a record written
    before the weights); -inf, -0.0, huge and tiny floats and large counts."""
    rows = streamed_rows(monkeypatch, CoreConfig(first_fit_after=10**9), seed=5, customers=12,
                   days=6)
    s = rows._slots
    used = np.flatnonzero(rows._entry_of >= 0)
    odd = ['say "hi"', "back\\slash", "zürich ☃", "", "tab\there", "😀"]
    codes = [rows.codes.code(w) for w in odd]
    holding = used[s.pend_len[used] > 0]
    assert len(holding)
    b = s.pend_at[holding[0]]
    s.pend_bare[b, 0] = 1
    s.pend_code[b, 0, :] = codes[:sl.STRINGS]
    c = used[0]
    s.last_country[c] = codes[2]
    s.tab_code[c, 0, 0] = codes[0]
    s.ctx_len[c] = max(1, s.ctx_len[c])
    s.ctx_code[c, s.ctx_head[c], :] = codes[1:1 + sl.STRINGS]
    s.amt_len[c] = 4
    s.amt_head[c] = 0
    s.amt[c, :4] = [-0.0, 1e300, 5e-324, 0.1 + 0.2]
    s.last_t[c] = -np.inf
    s.wake_t[c] = -np.inf
    s.n[c] = 2**62
    s.gap_log[c] = float("nan")
    assert _written(rows, used, 3) == _expected(rows, used, 3)
    assert b"null" in _written(rows, used[:1], 0)[0]


def test_the_record_writes_every_field_in_order() -> None:
    assert records._WRITTEN == CustomerState.FIELDS


def test_orjson_writes_numpy_floats_as_it_writes_python_floats() -> None:
    """What `records` relies on: the text of a float is the same from an array."""
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**63, 300_000, dtype=np.uint64).view(np.float64)
    values = np.concatenate([bits, -bits[:1000], rng.normal(0, 1e4, 100_000).round(2),
                             np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e16, 1e-7])])
    assert (orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)
            == orjson.dumps(values.tolist()))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), customers=st.integers(1, 6),
       first=st.integers(0, 2**40),
       dims=st.sampled_from([sl.Dims(a=4, k=3, x=2, r=5), sl.Dims.of(CoreConfig())]))
def test_any_slot_writes_the_record_encode_fields_writes(seed: int, customers: int,
                                                        first: int, dims: sl.Dims) -> None:
    """Random customers (tests/unit/random_slots.py: any lengths, heads, float bits,
    strings to escape, held events with and without weights): the same bytes."""
    s, codes = random_slots(seed, customers, dims)
    cs = np.arange(customers, dtype=np.int64)[::-1].copy()
    seqs = np.arange(first, first + customers, dtype=np.int64)
    want = [encode_fields(int(q), row)
            for q, row in zip(seqs, sl.field_rows(s, cs, codes), strict=True)]
    words = records.Words()
    words.update(codes.values)
    assert records.records(as_ref(s), s, cs, seqs, words) == want
