"""Properties of the Kafka shell's per-batch fast paths (issue 14, "the Kafka shell's
per-record cost"), probed with hypothesis: the all-new dedupe batch equals the row-by-row
index through repeats, expiries, out-of-order event times, compactions and restores from
checkpoint parts; the joined scored row equals the schema's encoding at the text limits; the
batch loop loses and doubles nothing whichever record of a batch is poison."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import detector.dedupe as dedupe
from detector.core.verdict import Verdict
from detector.dedupe import DedupeIndex, event_minute, id_hashes
from detector.dlq import DecodeFailure, schema_record
from detector.loop import BatchProcessor, CoreFailure
from detector.partition import PartitionState
from shared import fastcodec
from shared.codec import encode
from shared.columns import RULE_NAMES
from shared.schemas import (
    MAX_ATTRIBUTE_KEY_CHARS,
    MAX_ATTRIBUTE_VALUE_CHARS,
    MAX_ATTRIBUTES,
    TEXT_LIMITS,
    ScoredTransaction,
    Transaction,
    TransactionView,
)
from tests.unit.detector_fakes import CountingEngine, FakeMessage, RecordingOutput, tx
from tests.unit.test_property_encode import chars

PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HORIZON_MIN = 60


class _PerRow(DedupeIndex):
    """The index without its all-new fast path: every batch checked row by row."""

    def check(self, txs: Sequence[TransactionView], offsets: Sequence[int]) -> list[int | None]:
        keys = id_hashes([t.transaction_id for t in txs])
        found = self._lookup_arrays(keys) or [-1] * len(txs)
        return self._check_each(keys.tolist(), offsets, [event_minute(t) for t in txs], found)


@contextlib.contextmanager
def _small_pending(n: int) -> Iterator[None]:
    """Compactions every few batches (hypothesis runs many examples in one test call)."""
    before = dedupe.MIN_PENDING
    dedupe.MIN_PENDING = n
    try:
        yield
    finally:
        dedupe.MIN_PENDING = before


def _at(tid: str, minute: int) -> TransactionView:
    return fastcodec.from_transaction(tx(0).model_copy(update={
        "transaction_id": tid, "timestamp": datetime(2025, 1, 1) + timedelta(minutes=minute)}))


# Ids from a small pool (repeats within and across batches) or unique; event times moving by
# the horizon's edges, backwards, or far ahead (everything before expires).
_steps = st.sampled_from([0, 1, HORIZON_MIN - 1, HORIZON_MIN, HORIZON_MIN + 1, -1,
                          -HORIZON_MIN - 1, 10 * HORIZON_MIN])
_ids = st.sampled_from(["a", "b", "c", "é" * TEXT_LIMITS["transaction_id"], "\U0001f600"])
_events = st.lists(st.tuples(st.none() | _ids, _steps), min_size=1, max_size=80)
# What happens after each batch: nothing, a checkpoint, or a restore from the checkpoint's parts.
_batch = st.tuples(st.integers(1, 12), st.sampled_from(["", "checkpoint", "restore"]))


class _Store:
    """The state topic's dedupe records as a compacted topic keeps them (latest per key)."""

    def __init__(self) -> None:
        self.parts: dict[str, bytes] = {}

    def write(self, parts: dict[str, bytes | None]) -> None:
        self.parts = {k: v if v is not None else self.parts[k] for k, v in parts.items()}


@PROPERTY
@given(_events, st.lists(_batch, min_size=1, max_size=30), st.sampled_from([2, 8, 64]))
def test_the_all_new_path_equals_row_by_row_through_restores(
        events: list[tuple[str | None, int]], cuts: list[tuple[int, str]],
        pending: int) -> None:
    stream: list[TransactionView] = []
    minute = 0
    for i, (tid, step) in enumerate(events):
        minute += step
        stream.append(_at(tid or f"n{i}", minute))
    horizon_s = HORIZON_MIN * 60
    fast, slow = DedupeIndex(horizon_s), _PerRow(horizon_s)
    store = _Store()
    got: list[int | None] = []
    expected: list[int | None] = []
    lo = 0
    with _small_pending(pending):
        for n, then in cuts * (1 + len(stream) // max(1, sum(n for n, _ in cuts))):
            if lo >= len(stream):
                break
            offsets = list(range(lo, min(lo + n, len(stream))))
            batch = stream[lo:lo + n]
            got += fast.check(batch, offsets)
            expected += slow.check(batch, offsets)
            fast.maintain()
            slow.maintain()
            if then:
                parts = fast.checkpoint_parts()
                assert parts == slow.checkpoint_parts()
                store.write(parts)
                if then == "restore":
                    fast = DedupeIndex.from_parts(dict(store.parts), horizon_s)
            lo += n
    assert got == expected
    assert fast.dump() == slow.dump()


@PROPERTY
@given(st.lists(_ids, min_size=1, max_size=6), st.integers(0, 2))
def test_an_id_repeated_at_the_batchs_last_position_is_its_duplicate(
        head: list[str], where: int) -> None:
    """Whatever comes before (new or known ids), a repeat of the batch's first, middle or
    last id at its end names that id's first offset; the rest are what row by row says."""
    fast, slow = DedupeIndex(HORIZON_MIN * 60), _PerRow(HORIZON_MIN * 60)
    ids = [f"u{i}" for i in range(len(head))]
    repeated = ids[[0, len(ids) // 2, -1][where]]
    batch = [_at(i, 0) for i in [*ids, repeated]]
    offsets = list(range(100, 100 + len(batch)))
    first = offsets[ids.index(repeated)]
    assert fast.check(batch, offsets) == slow.check(batch, offsets) == \
        [None] * len(ids) + [first]
    # the same ids again in the next batch: every one a duplicate of its first offset
    again = [_at(i, 1) for i in head]
    assert fast.check(again, range(200, 200 + len(head))) == \
        slow.check(again, range(200, 200 + len(head)))


# --- the joined scored row at the limits ------------------------------------------------

_edge = st.sampled_from("a\u00e9\u20ac\U0001f600\"\\/")
_escapes = st.sampled_from(['"', "\\", "/", "\u00e9", "\U0001f600", "\ufeff", "\uffff",
                            "\U0010ffff", "</script>"])


def _sized(size: int) -> st.SearchStrategy[str]:
    """Text of exactly `size` characters with no edge space (ids and country are stripped):
    a drawn piece repeated (hypothesis draws a few KB per example at most)."""
    return st.builds(lambda a, piece, b: a + (piece * size)[:size - 2] + b,
                     _edge, st.text(chars, min_size=1, max_size=8) | _escapes, _edge)


def _full(name: str) -> st.SearchStrategy[str]:
    return _sized(TEXT_LIMITS[name])


_attribute_sets = st.builds(
    lambda key, value: {f"{i:02d}{key[2:]}": value for i in range(MAX_ATTRIBUTES)},
    _sized(MAX_ATTRIBUTE_KEY_CHARS), _sized(MAX_ATTRIBUTE_VALUE_CHARS) | st.just(""))
_floats = st.sampled_from([0.0, -0.0, 5e-324, 1e-7, 999999999999.9999, -999999999999.9999,
                           123456.5, 1.0])
_times = st.sampled_from(["2025-01-01T00:00:00", "2025-01-01 00:00:00.000001",
                          "2024-02-29T23:59:59.999999+14:00", "2025-06-30T12:00:00-12:00",
                          "1970-01-01T00:00:00+00:00", "2100-12-31T23:59:59Z"])
#: Scores at the edges of their declared 0..1 (`shared.columns`)
_scores = st.sampled_from([0.0, -0.0, 5e-324, 1e-7, 0.999999, 1.0])
_verdicts = st.builds(
    lambda score, reasons, version: Verdict(
        score=score, model_score=score, reasons_top3=reasons, model_version=version,
        rule_flags=dict.fromkeys(RULE_NAMES, True), triggered_rules=list(RULE_NAMES[:3])),
    st.none() | _scores, st.lists(st.text(chars, max_size=300) | _escapes, max_size=3),
    st.text(chars, max_size=64) | _escapes)


@PROPERTY
@given(_full("transaction_id"), _full("customer_id"), _full("country"), _escapes,
       _attribute_sets, _floats, _times, _verdicts,
       st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 2**63 - 1)))
def test_a_row_at_every_text_limit_is_the_schemas_encoding(
        tid: str, cid: str, country: str, odd: str, attributes: dict[str, str],
        amount: float, when: str, verdict: Any, position: tuple[int, int]) -> None:
    """Every text at its limit, 32 attributes, escapes and astral characters, zoned times,
    amounts at the limit's edge and -0.0, sent as the producer or a hand-written message
    (escaped non-ASCII, a text amount) would: the joined row is the schema's bytes."""
    doc = {"schema_version": 1, "transaction_id": tid, "customer_id": cid, "timestamp": when,
           "amount": amount, "country": country, "channel": odd * 8, "device": odd,
           "merchant_category": "x" * TEXT_LIMITS["merchant_category"], "ip": "",
           "is_anomaly": None, "anomaly_type": None, "attributes": attributes}
    for value in (orjson.dumps(doc), orjson.dumps({**doc, "amount": repr(amount)}),
                  _ascii_json(doc)):
        schema = Transaction.model_validate_json(value)
        rec = fastcodec.decode_record(value) or fastcodec.from_transaction(schema)
        row = ScoredTransaction.model_validate({
            **schema.__dict__, **{f: getattr(verdict, f) for f in verdict.__struct_fields__},
            "source_partition": position[0], "source_offset": position[1]})
        assert fastcodec.encode_scored(rec, verdict, *position) == encode(row)


def _ascii_json(doc: dict[str, Any]) -> bytes:
    """As a hand-written message may come: every non-ASCII character escaped."""
    return json.dumps(doc, ensure_ascii=True).encode()


@given(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e12", "-1e12"]),
       st.booleans())
@settings(max_examples=30, deadline=None)
def test_non_finite_and_out_of_range_amounts_are_refused_by_both_decoders(
        amount: str, as_text: bool) -> None:
    value = encode(tx(1)).replace(b'"amount":11.0', b'"amount":' + (
        b'"' + amount.encode() + b'"' if as_text else amount.encode()))
    assert fastcodec.decode_record(value) is None
    with pytest.raises(DecodeFailure, match="amount"):
        schema_record(value)


# --- the batch loop: poison anywhere, nothing lost or doubled ------------------------------

class _Raising(CountingEngine):
    """Raises on the transaction ids in `poison` (a whole-batch call fails)."""

    def __init__(self, poison: frozenset[str], counts: dict[str, int] | None = None) -> None:
        super().__init__(counts)
        self.poison = poison

    def verdicts(self, txs: Sequence[TransactionView]) -> list[Any]:
        if any(t.transaction_id in self.poison for t in txs):
            raise ArithmeticError("core bug")
        return super().verdicts(txs)


class _RaisingFactory:
    def __init__(self, poison: frozenset[str]) -> None:
        self.poison = poison

    def new(self, partition: int) -> _Raising:
        return _Raising(self.poison)

    def restore(self, data: bytes) -> _Raising:
        return _Raising(self.poison, CountingEngine.restore(data).counts)


def _msgs(n: int, start: int, bad_json: set[int]) -> list[FakeMessage]:
    return [FakeMessage(3, start + i, b"{bad" if i in bad_json else encode(tx(i)))
            for i in range(n)]


@PROPERTY
@given(st.integers(1, 30), st.data())
def test_poison_anywhere_in_a_batch_is_isolated_and_nothing_is_lost_or_doubled(
        n: int, data: st.DataObject) -> None:
    """Core poison and malformed records at any positions: see `_isolated`."""
    positions = st.sets(st.integers(0, n - 1), max_size=n)
    core_bad = data.draw(positions, "core poison")
    _isolated(n, core_bad, data.draw(positions, "malformed") - core_bad)


@pytest.mark.parametrize(("n", "core_bad", "json_bad"), [
    (1, {0}, set()), (1, set(), {0}),  # a batch of one
    (5, {0}, set()), (5, {2}, set()), (5, {4}, set()),  # the first, a middle, the last
    (5, set(range(5)), set()), (5, set(), set(range(5))),  # every record poison
    (5, {0, 1, 2}, {3, 4}), (5, {4}, {0}), (5, {0}, {4}),
])
def test_poison_at_the_edges_of_a_batch(n: int, core_bad: set[int], json_bad: set[int]) -> None:
    _isolated(n, core_bad, json_bad)


def _isolated(n: int, core_bad: set[int], json_bad: set[int]) -> None:
    """The failing batch names its whole range of valid records, the position at its first;
    the careful run writes every other record exactly once, in order, as a stream without
    the poison would, each poison record one dead letter at its own offset; the position is
    cleared and the next offset is after the batch."""
    start = 1000
    msgs = _msgs(n, start, json_bad)
    poison = frozenset(str(i) for i in core_bad)
    factory = _RaisingFactory(poison)

    def fresh() -> BatchProcessor:
        proc = BatchProcessor(RecordingOutput(), 10**6, factory=factory)
        proc.parts[3] = PartitionState(_Raising(poison), start, dedupe=DedupeIndex(86_400))
        return proc

    proc = fresh()
    valid = [start + i for i in range(n) if i not in json_bad]
    if core_bad:
        try:
            proc.process(msgs)
        except CoreFailure as failure:
            assert (failure.partition, failure.first, failure.last) == (3, valid[0], valid[-1])
            assert proc.position == (3, valid[0])
        else:
            raise AssertionError("the core's failure was not raised")
        proc = fresh()  # the caller rewinds to the committed state and marks the range
        proc.careful[3] = [(valid[0], valid[-1])]
    proc.process(msgs)
    out = proc.output
    assert isinstance(out, RecordingOutput)
    good = [i for i in range(n) if i not in json_bad and i not in core_bad]
    clean = RecordingOutput()
    BatchProcessor(clean, 10**6, parts={3: PartitionState(CountingEngine(), 0)}).process(
        [FakeMessage(3, start + i, encode(tx(i))) for i in good])
    assert out.scored_rows == clean.scored_rows
    dead = [int(dict(h)["source.offset"]) for _, h in out.dead_letters]
    assert sorted(dead) == [start + i for i in sorted(core_bad | json_bad)]
    assert len(set(dead)) == len(dead)
    assert proc.position is None and proc.parts[3].next_offset == start + n
    # a poison id is forgotten by the dedupe index: it may come again and be scored
    dedupe = proc.parts[3].dedupe
    assert dedupe is not None
    assert dedupe.check([_at(str(i), 0) for i in sorted(core_bad)], [0] * len(core_bad)) == \
        [None] * len(core_bad)


@PROPERTY
@given(st.lists(st.sampled_from(["a", "b", "c", "d", "é" * 128]), min_size=1, max_size=30),
       st.lists(st.integers(1, 10), min_size=1, max_size=10))
def test_repeated_ids_within_and_across_batches_are_scored_once_at_the_loop(
        ids: list[str], cuts: list[int]) -> None:
    """However the stream is cut (a repeat at a batch's last position, in the next batch),
    each id is scored at its first offset and every repeat is a dead letter naming it."""
    proc = BatchProcessor(RecordingOutput(), 10**6)
    proc.parts[0] = PartitionState(CountingEngine(), 0, dedupe=DedupeIndex(86_400))
    msgs = [FakeMessage(0, i, encode(tx(i).model_copy(update={"transaction_id": t})))
            for i, t in enumerate(ids)]
    lo = 0
    for n in cuts * len(ids):
        if lo >= len(msgs):
            break
        proc.process(msgs[lo:lo + n])
        lo += n
    first: dict[str, int] = {}
    for i, t in enumerate(ids):
        first.setdefault(t, i)
    out = proc.output
    assert isinstance(out, RecordingOutput)
    scored = [orjson.loads(v)["source_offset"] for _, v in out.scored_rows]
    assert scored == sorted(first.values())
    dead = [(int(dict(h)["source.offset"]), int(dict(h)["duplicate.first_offset"]))
            for _, h in out.dead_letters]
    assert dead == [(i, first[t]) for i, t in enumerate(ids) if first[t] != i]


def test_zoned_times_in_a_message_are_naive_utc_in_both_paths() -> None:
    """A zone is converted, not dropped (the fast decoder uses the schema's parser)."""
    value = encode(tx(1)).replace(b'"2025-01-01T00:01:00"', b'"2025-01-01T00:01:00+14:00"')
    rec = fastcodec.decode_record(value)
    assert rec is not None
    assert rec.timestamp == datetime(2024, 12, 31, 10, 1) == \
        Transaction.model_validate_json(value).timestamp
    assert rec.timestamp.tzinfo is None
