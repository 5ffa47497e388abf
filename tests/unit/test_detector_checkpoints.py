"""Incremental checkpoints: what is written (changed customers, tombstones, changed parts),
what a restore rebuilds from the latest record per key (exactly the live engine), and the
clear errors for missing or corrupt pieces. No broker: the topic is a list of records."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import cast

import orjson
import pytest

from detector.checkpoints import (
    CheckpointAssembler,
    Ledger,
    Restored,
    encode_checkpoint,
    state_prefix,
)
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.state import CustomerState
from detector.core.stateparts import CUSTOMER_MAGIC, PARTS, NewerStateError, decode_customer
from detector.core.table import CustomerTable, changed_ids, changed_tail
from detector.dedupe import DedupeIndex
from detector.partition import CoreEngineFactory, PartitionState
from detector.resume import partition_state
from detector.snapshots import SnapshotError, SnapshotRecord, snapshot_prefix
from shared.schemas import Transaction
from tests.unit.state_stream import CONFIG, stream

DATA = Path(__file__).resolve().parents[1] / "data" / "state"
#: Few customers allowed: evictions (tombstones) happen all along the stream.
SMALL = CONFIG.model_copy(update={"max_customers": 12})
PREFIX = state_prefix("g", "t", 2)
DAY = 86400.0


def compact(records: list[SnapshotRecord]) -> list[SnapshotRecord]:
    """What compaction leaves: the latest record per key, tombstones gone."""
    latest = {r.key: r for r in records}
    return [r for r in records if latest[r.key] is r and r.value is not None]


def assemble(records: list[SnapshotRecord], prefix: str = PREFIX,
             legacy: str | None = None) -> Restored | None:
    asm = CheckpointAssembler(prefix, legacy)
    for r in records:
        asm.feed(r.key, r.value, r.headers)
    return asm.result()


class Writer:
    """One partition checkpointed every `every` rows, its records kept like a topic's."""

    def __init__(self, config: CoreConfig = SMALL, chunk: int = 64 * 1024) -> None:
        self.config, self.chunk = config, chunk
        self.state = PartitionState(PartitionEngine(config, 2), 0, dedupe=DedupeIndex(DAY))
        self.records: list[SnapshotRecord] = []
        self.last: list[SnapshotRecord] = []

    def feed(self, txs: list[Transaction]) -> None:
        first = self.state.next_offset
        assert self.state.dedupe is not None
        self.state.dedupe.check(txs, list(range(first, first + len(txs))))
        eng(self.state).process(txs)
        self.state.next_offset += len(txs)

    def checkpoint(self) -> list[SnapshotRecord]:
        s = self.state
        self.last = encode_checkpoint(PREFIX, s.next_offset, s.changes(), s.ledger, self.chunk)
        self.records += self.last
        return self.last


def restored_state(records: list[SnapshotRecord], config: CoreConfig = SMALL
                   ) -> PartitionState:
    snap = assemble(records)
    assert snap is not None
    return partition_state(2, snap, CoreEngineFactory(config), DAY, snap.next_offset, [])


def eng(state: PartitionState) -> PartitionEngine:
    return cast(PartitionEngine, state.engine)


def customer_keys(records: list[SnapshotRecord], live: bool = True) -> set[str]:
    return {r.key.decode().rsplit("/c/", 1)[1] for r in records
            if b"/c/" in r.key and (r.value is not None) == live}


def _number(seq: int, state: object) -> int:
    """A checkpoint's encoding reduced to the customer's number."""
    return seq


def test_a_checkpoint_encodes_each_customer_as_soon_as_it_is_loaded() -> None:
    # A full checkpoint walks every customer: each is encoded right after it is loaded and
    # only its record kept, never all loaded first (at 200,000 customers that was 755 MB).
    events: list[str] = []

    def load(cid: str) -> CustomerState:
        events.append(f"load {cid}")
        return CustomerState()

    def encode(seq: int, state: CustomerState) -> int:
        events.append(f"encode {seq}")
        return seq

    changed = changed_tail(iter("edcba"), load, set("abcde"), 10, encode)
    assert changed == [("a", 10), ("b", 11), ("c", 12), ("d", 13), ("e", 14)]
    assert events == ["load a", "encode 10", "load b", "encode 11", "load c", "encode 12",
                      "load d", "encode 13", "load e", "encode 14"]
    with pytest.raises(AssertionError, match="out of the changed tail"):
        changed_tail(iter("exd"), load, set("de"), 0, encode)  # x: seen, not touched
    with pytest.raises(AssertionError, match="3 customers changed, 2 in the table"):
        changed_tail(iter("ed"), load, set("cde"), 0, encode)
    assert changed_ids(iter("edcbax"), set("cde")) == ["c", "d", "e"]  # the tail only
    with pytest.raises(AssertionError, match="out of the changed tail"):
        changed_ids(iter("exd"), set("de"))


def test_the_table_hands_out_exactly_the_customers_touched_since_the_last_time() -> None:
    table = CustomerTable(CONFIG.model_copy(update={"max_customers": 3}))

    def seen(cid: str) -> None:
        table.get(cid, 0.0).last_t = 0.0

    for cid in "abc":
        seen(cid)
    changed, gone = table.take_changes(_number)
    assert changed == [("a", 0), ("b", 1), ("c", 2)] and gone == []
    seen("a")
    seen("d")  # evicts b, the least recently seen
    seen("b")  # back: evicts c; b is no longer gone
    changed, gone = table.take_changes(_number)
    assert changed == [("a", 3), ("d", 4), ("b", 5)]
    assert gone == ["c"]
    assert table.take_changes(_number) == ([], [])


def test_a_checkpoint_writes_only_the_customers_touched_since_the_previous_one() -> None:
    w = Writer(CONFIG)  # 30 customers, none evicted
    rows = stream(600)
    w.feed(rows[:450])
    assert customer_keys(w.checkpoint()) == {tx.customer_id for tx in rows[:450]}
    w.feed(rows[450:460])
    assert customer_keys(w.checkpoint()) == {tx.customer_id for tx in rows[450:460]}
    assert customer_keys(w.checkpoint()) == set()  # nothing touched: no customer record


def test_evicted_customers_become_tombstones_and_vanish_from_the_restore() -> None:
    w = Writer()
    rows = stream(600)
    w.feed(rows[:200])
    w.checkpoint()
    before = {cid for cid, _ in eng(w.state)._state()[0].items()}
    w.feed(rows[200:260])
    after = {cid for cid, _ in eng(w.state)._state()[0].items()}
    records = w.checkpoint()
    dead = customer_keys(records, live=False)  # also those added and evicted since
    assert before - after <= dead and before - after and not dead & after
    snap = assemble(compact(w.records))
    assert snap is not None and {cid for cid, _ in snap.customers} == after


@pytest.mark.parametrize("compacted", [False, True])
def test_every_checkpoint_restores_to_exactly_the_live_engine(compacted: bool) -> None:
    w = Writer()
    rows = stream(600)
    for lo in range(0, 600, 37):
        w.feed(rows[lo:lo + 37])
        w.checkpoint()
        topic = compact(w.records) if compacted else w.records
        back = restored_state(topic)
        assert back.engine.snapshot() == w.state.engine.snapshot(), lo
        assert back.snapshot() == w.state.snapshot()  # the dedupe index too
        assert back.ledger == replace(w.state.ledger, stale=[])
    # and it scores what follows exactly as the engine that never stopped
    more = stream(700, seed=9)[600:]
    assert eng(back).process(more) == eng(w.state).process(more)


def test_a_customer_untouched_for_five_checkpoints_is_still_read_from_its_old_record() -> None:
    w = Writer(CONFIG)
    rows = stream(600)
    w.feed(rows[:100])
    w.checkpoint()
    quiet = {tx.customer_id for tx in rows[:100]} - {tx.customer_id for tx in rows[100:160]}
    for lo in range(100, 160, 12):
        w.feed(rows[lo:lo + 12])
        w.checkpoint()
    assert quiet and w.state.ledger.number == 6
    topic = compact(w.records)
    old = {r.key.decode().rsplit("/", 1)[1] for r in topic
           if b"/c/" in r.key and dict(r.headers)["ck"] == b"1"}
    assert quiet <= old
    assert restored_state(topic, CONFIG).engine.snapshot() == w.state.engine.snapshot()


def test_a_crash_between_checkpoints_replays_to_the_same_state_and_next_checkpoint() -> None:
    w = Writer()
    rows = stream(600)
    w.feed(rows[:300])
    w.checkpoint()
    w.feed(rows[300:350])  # the process dies here: nothing of this was checkpointed
    back = restored_state(compact(w.records))
    assert back.next_offset == 300
    assert back.dedupe is not None
    back.dedupe.check(rows[300:350], list(range(300, 350)))
    eng(back).process(rows[300:350])
    back.next_offset = 350
    ours = encode_checkpoint(PREFIX, 350, back.changes(), back.ledger, 64 * 1024)
    theirs = w.checkpoint()
    assert [(r.key, r.value) for r in ours] == [(r.key, r.value) for r in theirs]


def test_unchanged_parts_are_not_written_again_and_big_ones_are_chunked() -> None:
    w = Writer(CONFIG, chunk=4096)
    rows = stream(600)
    w.feed(rows[:350])  # two fits (at 128 and 320)
    first = {r.key.decode() for r in w.checkpoint()}
    assert {f"{PREFIX}/p/model/{i}" for i in range(3)} <= first  # 11 KB in 4 KB chunks
    w.feed(rows[350:360])  # no refit: the model's records stay as they are
    second = {r.key.decode() for r in w.checkpoint()}
    assert not any("/p/model/" in k for k in second) and f"{PREFIX}/p/population/0" in second
    assert all(len(r.value or b"") <= 4096 for r in w.records)
    assert restored_state(compact(w.records), CONFIG).engine.snapshot() == \
        w.state.engine.snapshot()


def test_a_customer_state_above_the_chunk_size_is_a_clear_error() -> None:
    w = Writer(CONFIG, chunk=1024)
    w.feed(stream(100))
    with pytest.raises(SnapshotError, match=r"state of customer 'c\d+' takes .* over the chunk"):
        w.checkpoint()


def test_groups_and_partitions_sharing_the_topic_never_read_each_other() -> None:
    prefixes = [state_prefix("g", "t", 2), state_prefix("g", "t", 22),
                state_prefix("g/t/2", "x", 1), state_prefix("g", "t2", 2)]
    assert len(set(prefixes)) == 4 and prefixes[2] == "g%2Ft%2F2/x/1"
    records = []
    for i, prefix in enumerate(prefixes):
        w = Writer(CONFIG)
        w.feed(stream(150, seed=i))
        records += encode_checkpoint(prefix, 150 + i, w.state.changes(), w.state.ledger, 65536)
    for i, prefix in enumerate(prefixes):
        snap = assemble(records, prefix)
        assert snap is not None and snap.next_offset == 150 + i and not snap.ledger.stale


def test_a_new_epoch_ignores_and_deletes_what_an_older_one_left() -> None:
    old = Writer()
    old.feed(stream(300))
    old.checkpoint()
    new = Writer()  # e.g. rebuilt from the input after a broken checkpoint
    new.state.ledger = Ledger(stale=[r.key for r in compact(old.records)])
    new.feed(stream(300)[:40])
    records = new.checkpoint()
    gone = {r.key for r in records if r.value is None}
    written = {r.key for r in records if r.value is not None}
    assert {r.key for r in compact(old.records)} - written <= gone and not gone & written
    snap = assemble(old.records + records)
    assert snap is not None and snap.next_offset == 40 and snap.ledger.stale == []
    # without those deletions the old epoch's customers would still be on the topic: ignored
    kept = [r for r in records if r.value is not None]
    snap = assemble(old.records + kept)
    assert snap is not None and len(snap.customers) == eng(new.state).customers
    assert set(snap.ledger.stale) == {r.key for r in compact(old.records)} - written


def _topic() -> tuple[Writer, list[SnapshotRecord]]:
    w = Writer(CONFIG, chunk=4096)
    w.feed(stream(400))
    w.checkpoint()
    return w, compact(w.records)


def test_a_missing_customer_record_is_a_snapshot_error() -> None:
    _, topic = _topic()
    lost = next(i for i, r in enumerate(topic) if b"/c/" in r.key)
    with pytest.raises(SnapshotError, match=r"checkpoint 1 @400: 29 customer records found, "
                                            r"the manifest counts 30"):
        assemble(topic[:lost] + topic[lost + 1:])


def test_a_missing_or_stale_part_chunk_is_a_snapshot_error() -> None:
    w, topic = _topic()
    key = f"{PREFIX}/p/sample/1".encode()
    with pytest.raises(SnapshotError, match=r"chunk 1 of part 'sample' .* missing"):
        assemble([r for r in topic if r.key != key])
    stale = [SnapshotRecord(r.key, r.value, [("ck", b"0"), ("ep", w.state.ledger.epoch.encode())])
             if r.key == key else r for r in topic]
    with pytest.raises(SnapshotError, match=r"chunk 1 of part 'sample'"):
        assemble(stale)


def test_a_corrupt_part_or_unknown_layout_is_a_snapshot_error() -> None:
    _, topic = _topic()
    key = f"{PREFIX}/p/population/0".encode()
    bad = [SnapshotRecord(r.key, (r.value or b"")[:-1] + b"?", r.headers)
           if r.key == key else r for r in topic]
    with pytest.raises(SnapshotError, match="part 'population' fails its checksum"):
        assemble(bad)
    manifest = topic[-1]
    for layout, error, text in [(0, SnapshotError, "unknown checkpoint layout 0"),
                                (9, NewerStateError, "checkpoint layout 9; this release")]:
        doc = json.loads(manifest.value or b"") | {"layout": layout}
        with pytest.raises(error, match=text):
            assemble([*topic[:-1], SnapshotRecord(manifest.key, json.dumps(doc).encode(),
                                                  manifest.headers)])


@pytest.mark.parametrize("name", [*PARTS, "pending"])
def test_a_part_that_is_not_a_part_record_is_refused_by_its_name(name: str) -> None:
    engine = PartitionEngine(CONFIG, 2)
    engine.process(stream(300))
    changes = engine.checkpoint(full=True)
    parts = {k: v for k, v in changes.parts.items() if v is not None}
    assert set(parts) == {*PARTS, "pending"}
    parts[name] = b'{"not": "a part"}'
    with pytest.raises(ValueError, match=rf"^state part '{name}' is not a version-3 part record$"):
        PartitionEngine.resume(parts, changes.customers, CONFIG)


def test_a_snapshot_keeps_the_checkpoint_numbering_so_the_next_checkpoint_is_the_same() -> None:
    """A whole snapshot taken between checkpoints restores the table's change counter
    (`seq`): the restored engine's next checkpoint numbers its customers as the live one's."""
    rows = stream(500)
    live = PartitionEngine(CONFIG, 2)
    live.process(rows[:300])
    live.checkpoint()
    back = PartitionEngine.restore(live.snapshot(), CONFIG)
    assert back._state()[0].seq == live._state()[0].seq > 0
    live.process(rows[300:])
    back.process(rows[300:])
    assert back.checkpoint() == live.checkpoint()


def test_a_customer_record_of_another_version_is_refused_clearly() -> None:
    _, topic = _topic()
    with pytest.raises(ValueError, match="unsupported customer record version 2"):
        decode_customer(CUSTOMER_MAGIC[:3] + b"\x02{}")
    with pytest.raises(NewerStateError, match="customer record version 4; this release reads"):
        decode_customer(CUSTOMER_MAGIC[:3] + b"\x04{}")
    with pytest.raises(ValueError, match=r"^not a customer state record$"):
        decode_customer(b"{}")
    no_manifest = [r for r in topic if not r.key.endswith(b"/m")]
    assert assemble(no_manifest) is None  # no manifest: nothing written yet


def _with_extra_field(value: bytes) -> bytes:
    doc = orjson.loads(value[len(CUSTOMER_MAGIC):])
    doc["fields"]["added_later"] = [1, 2, 3]
    del doc["fields"]["wake"]  # and one the writer did not have yet
    return CUSTOMER_MAGIC + orjson.dumps(doc)


def test_records_with_a_field_added_or_missing_restore() -> None:
    w, topic = _topic()
    changed = [SnapshotRecord(r.key, _with_extra_field(r.value), r.headers)
               if b"/c/" in r.key and r.value else r for r in topic]
    back = restored_state(changed, CONFIG)
    assert eng(back).customers == eng(w.state).customers
    for _, st in eng(back)._state()[0].items():
        assert not hasattr(st, "added_later") and st.wake == (float("-inf"), 0.0)
    eng(back).process(stream(500)[400:])  # and it carries on


def test_the_previous_releases_whole_snapshot_restores_once_and_is_then_replaced() -> None:
    """Records as commit 2ab17d8 wrote them (`topic-whole-snapshot.jsonl`: 450 rows of
    `state_stream` in partition 2, group g, topic t, with the dedupe index)."""
    lines = (DATA / "topic-whole-snapshot.jsonl").read_text().splitlines()
    old = [SnapshotRecord(d["key"].encode(), base64.b64decode(d["value"]),
                          [(k, v.encode()) for k, v in d["headers"]])
           for d in map(json.loads, lines)]
    snap = assemble(old, PREFIX, snapshot_prefix("g", "t", 2))
    assert snap is not None and snap.whole is not None and snap.next_offset == 450
    assert sorted(snap.ledger.stale) == sorted(r.key for r in old)
    state = partition_state(2, snap, CoreEngineFactory(CONFIG), DAY, 450, [])
    # The state as that release kept it: every customer, 450 rows, the dedupe index; what
    # it did not keep starts afresh (the low tail's counts, added since). Scoring changed
    # since, so today's engine fed the same rows holds other habits: the check is that the
    # upgraded state carries on exactly as the restored one does.
    assert eng(state).processed == 450 and eng(state)._state()[1].low_n == 0
    live = Writer(CONFIG)  # the dedupe index does not depend on scoring: the same as today's
    live.feed(stream(600)[:450])
    assert state.dedupe is not None and live.state.dedupe is not None
    assert state.dedupe.dump() == live.state.dedupe.dump()
    kept = partition_state(2, snap, CoreEngineFactory(CONFIG), DAY, 450, [])
    # the first checkpoint writes every customer and deletes the old layout's keys
    records = encode_checkpoint(PREFIX, 450, state.changes(), state.ledger, 65536)
    assert len(customer_keys(records)) == 30
    assert {r.key for r in records if r.value is None} == {r.key for r in old}
    again = assemble(old + records, PREFIX, snapshot_prefix("g", "t", 2))
    assert again is not None and again.whole is None and again.ledger.stale == []
    rest = stream(600)[450:]
    resumed = partition_state(2, again, CoreEngineFactory(CONFIG), DAY, 450, [])
    assert eng(resumed).process(rest) == eng(kept).process(rest)
    assert resumed.dedupe is not None and kept.dedupe is not None
    assert resumed.dedupe.dump() == kept.dedupe.dump()


def test_a_checkpoint_keeps_the_input_s_partition_count_and_a_restore_under_another_refuses(
) -> None:
    # Partitions added by hand to both the input and the state topic while no detector ran:
    # the start-up's check saw equal counts again and customers were split without a word.
    from detector.kafka_io import check_partitions
    from detector.settings import DetectorSettings
    from shared.errors import KafkaWiringError

    w = Writer()
    w.feed(stream(60))
    state = w.state
    records = encode_checkpoint(PREFIX, 60, state.changes(), state.ledger, 65536, partitions=4)
    snap = assemble(records)
    assert snap is not None and snap.partitions == 4
    s = DetectorSettings(snapshot_topic="state", topics={"transactions_topic": "in"})
    check_partitions(s, 2, snap, 4)  # the same count: restored as before
    check_partitions(s, 2, None, 8)  # no checkpoint yet: nothing to compare
    for now in (3, 5, 8):  # one either side, and doubled
        with pytest.raises(KafkaWiringError, match=f"in has {now} partitions, not the 4 of "
                           "the checkpoint of its partition 2 in state: partitions added"):
            check_partitions(s, 2, snap, now)


def test_a_checkpoint_written_before_the_partition_count_was_kept_restores_as_before(
) -> None:
    from detector.kafka_io import check_partitions
    from detector.settings import DetectorSettings

    w = Writer()
    w.feed(stream(60))
    snap = assemble(w.checkpoint())  # no count given: a manifest without the field
    assert snap is not None and snap.partitions is None
    manifest = json.loads(w.last[-1].value or b"")
    assert "partitions" not in manifest
    check_partitions(DetectorSettings(), 0, snap, 8)


def test_an_older_releases_incremental_checkpoints_restore_and_score_on_exactly() -> None:
    """Records as commit 038e624 (2026-12-04) wrote them (`topic-checkpoints-038e624.jsonl`,
    `tests/data/state/make_checkpoint_fixture.py`: three checkpoints of 450 rows of
    `state_stream` in partition 2, evictions among them, the dedupe index, a manifest
    without the input's partition count). c39abe4 (2026-12-06) writes the same keys. An
    upgrade restores them and scores the next rows as this release's engine fed every row
    does; a format change that an older checkpoint no longer restores under fails here."""
    lines = (DATA / "topic-checkpoints-038e624.jsonl").read_text().splitlines()
    old = [SnapshotRecord(d["key"].encode(),
                          None if d["value"] is None else base64.b64decode(d["value"]),
                          [(k, v.encode()) for k, v in d["headers"]])
           for d in map(json.loads, lines)]
    snap = assemble(old)
    assert snap is not None and snap.whole is None and snap.next_offset == 450
    assert snap.ledger.number == 3 and snap.partitions is None
    state = partition_state(2, snap, CoreEngineFactory(SMALL), DAY, 450, [])
    assert eng(state).processed == 450
    rows = stream(600)
    live = Writer()
    live.feed(rows[:450])
    assert state.dedupe is not None and live.state.dedupe is not None
    assert state.dedupe.dump() == live.state.dedupe.dump()
    assert eng(state).process(rows[450:]) == eng(live.state).process(rows[450:])
    # and its next checkpoint is one of this release, restored exactly
    records = encode_checkpoint(PREFIX, 600, state.changes(), state.ledger, 65536)
    again = restored_state(old + records)
    assert again.ledger.number == 4 and eng(again).snapshot() == eng(state).snapshot()


def _manifest_doc(topic: list[SnapshotRecord]) -> dict[str, object]:
    return cast(dict[str, object], json.loads(topic[-1].value or b""))


#: Records anyone able to write the state topic can leave as a key's latest (the randomized
#: soak's `poison_state`, seeds 840 on): (a name, a function of the compacted topic and the
#: manifest's headers -> the poison record).
UNREADABLE = {
    "manifest cut short": lambda t, h: SnapshotRecord(t[-1].key, (t[-1].value or b"")[:30], h),
    "manifest no UTF-8": lambda t, h: SnapshotRecord(t[-1].key, b"\xff{", h),
    "manifest a list": lambda t, h: SnapshotRecord(t[-1].key, b"[1]", h),
    "manifest without parts": lambda t, h: SnapshotRecord(t[-1].key, json.dumps(
        {k: v for k, v in _manifest_doc(t).items() if k != "parts"}).encode(), h),
    "manifest parts a list": lambda t, h: SnapshotRecord(t[-1].key, json.dumps(
        _manifest_doc(t) | {"parts": []}).encode(), h),
    "manifest offset no number": lambda t, h: SnapshotRecord(t[-1].key, json.dumps(
        _manifest_doc(t) | {"next_offset": "x"}).encode(), h),
    "manifest partitions no number": lambda t, h: SnapshotRecord(t[-1].key, json.dumps(
        _manifest_doc(t) | {"partitions": "x"}).encode(), h),
    "manifest a part's chunks no number": lambda t, h: SnapshotRecord(t[-1].key, json.dumps(
        _manifest_doc(t) | {"parts": {"meta": {"checkpoint": 1, "chunks": "x"}}}).encode(),
        h),
    "customer checkpoint header no number": lambda t, h: SnapshotRecord(
        next(r.key for r in t if b"/c/" in r.key), b"ASC\x03{}",
        [("ck", b"x"), h[1]]),
    "part epoch header no UTF-8": lambda t, h: SnapshotRecord(
        next(r.key for r in t if b"/p/" in r.key), b"ASP\x03", [h[0], ("ep", b"\xff")]),
    "customer epoch header no value": lambda t, h: SnapshotRecord(  # as a consumer reads it
        next(r.key for r in t if b"/c/" in r.key), b"ASC\x03{}",
        [h[0], ("ep", None)]),  # type: ignore[list-item]
}


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_an_unreadable_latest_record_is_a_snapshot_error_and_its_key_deleted(
        name: str) -> None:
    """An unreadable record under the prefix makes the checkpoint unusable (the partition
    rebuilt from its input history, docs/detector.md "State recovery"), never another error
    out of the restore, and its key is among those the new epoch deletes. Before: the
    JSON, header or field error raised out of `feed` or `result` (JSONDecodeError,
    ValueError, AttributeError, KeyError, TypeError), so every restore of the partition
    failed the same way and the detector stopped at each start."""
    _, topic = _topic()
    poison = UNREADABLE[name](topic, topic[-1].headers)
    asm = CheckpointAssembler(PREFIX, snapshot_prefix("g", "t", 2))
    for r in [*topic, poison]:
        asm.feed(r.key, r.value, r.headers)
    with pytest.raises(SnapshotError, match=rf"^{PREFIX}: "):
        asm.result()
    assert poison.key in asm.keys()  # noqa: SIM118 (a method of the assembler, no dict)


#: The shapes of `UNREADABLE` whose manifest no longer says how far it covered.
NO_OFFSET = {"manifest cut short", "manifest no UTF-8", "manifest a list",
             "manifest offset no number"}


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_an_unusable_checkpoint_tells_how_far_its_manifest_says_it_covered(name: str) -> None:
    """The restore refuses a group offset behind it (`detector.recovery`: an offsets reset
    after poison on the state topic, randomized soak seed 877, scored every row twice)."""
    _, topic = _topic()
    poison = UNREADABLE[name](topic, topic[-1].headers)
    with pytest.raises(SnapshotError) as caught:
        assemble([*topic, poison])
    assert caught.value.next_offset == (None if name in NO_OFFSET else 400)


def test_a_checkpoint_missing_a_record_tells_how_far_it_covered() -> None:
    _, topic = _topic()
    lost = next(i for i, r in enumerate(topic) if b"/c/" in r.key)
    with pytest.raises(SnapshotError) as caught:
        assemble(topic[:lost] + topic[lost + 1:])
    assert caught.value.next_offset == 400
    for offset in (-1, True, 4.5):  # not an offset: not said
        doc = _manifest_doc(topic) | {"next_offset": offset, "customers": 10**6}
        with pytest.raises(SnapshotError) as caught:
            assemble([*topic, SnapshotRecord(topic[-1].key, json.dumps(doc).encode(),
                                             topic[-1].headers)])
        assert caught.value.next_offset is None


@pytest.mark.parametrize("value", [b"{", b"[1]", b"\xff", b'{"format": 1}',
                                   b'{"format": 1, "next_offset": "x", "chunks": 1}'])
def test_an_unreadable_whole_snapshot_manifest_is_a_snapshot_error(value: bytes) -> None:
    """The previous layout's manifest key (no headers needed) holding no manifest, with no
    checkpoint beside it: a `SnapshotError`, as a whole snapshot failing its checksum is.
    Beside a checkpoint it is never read (the checkpoint restores)."""
    legacy = snapshot_prefix("g", "t", 2)
    chunk = SnapshotRecord(f"{legacy}#0".encode(), b"abc", [("next_offset", b"x")])
    for records in ([SnapshotRecord(legacy.encode(), value, [])],
                    [chunk, SnapshotRecord(legacy.encode(), value, [])]):
        with pytest.raises(SnapshotError, match=rf"^{legacy}: "):
            assemble(records, legacy=legacy)
    _, topic = _topic()
    snap = assemble([SnapshotRecord(legacy.encode(), value, []), chunk, *topic], legacy=legacy)
    assert snap is not None and snap.next_offset == 400
    assert {legacy.encode(), f"{legacy}#0".encode()} <= set(snap.ledger.stale)


def test_a_readable_record_after_an_unreadable_one_of_its_key_restores() -> None:
    """Only a key's latest record counts (compaction keeps no other): the next checkpoint's
    manifest over an unreadable one restores."""
    w, topic = _topic()
    poison = UNREADABLE["manifest cut short"](topic, topic[-1].headers)
    w.feed(stream(420)[400:])
    later = w.checkpoint()
    snap = assemble([*topic, poison, *later])
    assert snap is not None and snap.next_offset == 420
