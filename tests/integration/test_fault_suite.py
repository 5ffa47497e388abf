"""One stream through the pipeline under every fault at once: no row lost, doubled or changed.

During a paced replay of a generated CSV (4 partitions) the suite, at seeded random moments,
kill -9s the detector and the sink (restarting each at once), restarts the broker with its
data kept, runs a second detector and stops one of the two, and starts a second sink on the
same exports folder (it must be refused), while 1% poison messages of every kind in
`tests/poison_corpus.py` are mixed into the input topic and every detector raises unexpected
exceptions at seeded random steps of its batches (decode, core, encode, produce,
send_offsets, commit: the fault hook of `tests.integration.detector_harness`). After the
replay, 1% of the transactions are sent again (the same bytes: a replay repeated by mistake).
The final scored rows (the day files) are then compared row by row with `auditstream score
--partitions 4` on the same CSV, and the dead letter topic with the poison and the second
copies sent. It runs on the core's own loop compiled by mypyc (`AUDITSTREAM_CORE=compiled`)
and on the compiled kernel, the default, with 8 customers in slots a partition (the others
parked).
Seed: AUDITSTREAM_FAULT_SEED; figures: printed (`pytest -s`) and, when
AUDITSTREAM_FAULT_REPORT names a file, written there as JSON. On any failure the suite
prints the unplanned exits and hangs with the last lines of each such log and of every
current one (pytest shows it with the failure), and copies every log into a new folder
under AUDITSTREAM_FAULT_KEEP_LOGS when that is set.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from shared.settings import KafkaSettings
from tests.conftest import BrokerHandle
from tests.integration.broker_check import broker_check
from tests.integration.detector_harness import CORE_ENV, Topics, read_all
from tests.integration.fault_fleet import EXCEPTIONS, SEED, Fleet, drain
from tests.integration.pipeline_harness import (
    Feeder,
    Service,
    base_env,
    diff_rows,
    freeze_sources,
    generate_csv,
    read_scored_csv,
    replay,
    sink,
    wait_until,
)
from tests.integration.topic_reader import headers_of
from tests.poison_corpus import poison_messages

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 4
CUSTOMERS, DAYS = 500, 36  # about 40,000 transactions
RATE = 450.0  # replay messages/s: a stream of about 90 s, long enough for every fault
POISON_SHARE = 0.01
DUPLICATE_SHARE = 0.01
PLAN = (["detector_kill"] * 4 + ["sink_kill"] * 4
        + ["broker_restart", "scale_out", "second_sink"])
#: A subset of faults in a fixed order (e.g. "detector_kill,broker_restart"), to narrow down
#: a failure; by default the whole PLAN runs in a seeded random order.
FIXED_PLAN = os.environ.get("AUDITSTREAM_FAULT_PLAN")
if FIXED_PLAN is not None:
    PLAN = [k for k in FIXED_PLAN.split(",") if k]
SINK_ENV = {"SINK_CHECKPOINT_INTERVAL_S": "0.5", "SINK_ROLLUP_INTERVAL_S": "1",
            "SINK_REPORT_INTERVAL_S": "60"}
DUPLICATE_CLASS, POISON_PILL_EXIT = "DuplicateTransaction", 7
#: librdkafka's fatal error for a static member that lost its session (reported, see docs).
FENCED = "Static consumer fenced"


def inject(kind: str, fleet: Fleet, broker: BrokerHandle, rng: random.Random,
           injected: Counter[str], skipped: dict[str, str]) -> None:
    if kind == "detector_kill":
        name = rng.choice(sorted(fleet.detectors))
        fleet.detectors[name].kill()
        fleet.start_detector(name).wait_for("restored", timeout=120)
    elif kind == "sink_kill":
        fleet.sink.kill()
        fleet.sink.start()
    elif kind == "broker_restart":
        if broker.local is None:
            skipped[kind] = f"{broker.description} is not ours to restart"
            return
        broker.local.stop()
        time.sleep(rng.uniform(0.5, 2.0))
        broker.local.start()
    elif kind == "second_sink":
        second = sink(fleet.env, Path(fleet.sink.args[2]), fleet.logs)
        second.name = "sink-second"  # its own log files
        fleet.track(second.start())
        code = second.wait(30)
        assert code == 6, f"a second sink on the same folder exited {code}: {second.logs()}"
        assert f"pid {fleet.sink.proc and fleet.sink.proc.pid}" in second.logs().lower(), \
            second.logs()
    elif kind == "scale_out":
        fleet.start_detector("b").wait_for("restored", timeout=120)
        time.sleep(rng.uniform(2.0, 5.0))
        assert fleet.retire(rng.choice(sorted(fleet.detectors))) == 0
        injected["detector_stopped"] += 1
    injected[kind] += 1


def poison_items(count: int) -> tuple[list[tuple[bytes, bytes | None]], dict[bytes, str]]:
    """`count` poison messages, every kind of the corpus in turn, each under its own key."""
    corpus = poison_messages()
    items, kinds = [], {}
    for i in range(count):
        p = corpus[i % len(corpus)]
        key = f"poison-{i}-{p.name}".encode()
        items.append((key, p.value))
        kinds[key] = p.error_class
    return items, kinds


def duplicate_items(source: Path, share: float, rng: random.Random
                    ) -> tuple[list[tuple[bytes, bytes | None]], set[str]]:
    """A seeded `share` of the CSV's transactions, encoded as `replay` sends them."""
    from shared.codec import encode
    from shared.csv_io import load_sorted

    txs, errors = load_sorted([source])
    assert not errors
    picked = rng.sample(txs, round(len(txs) * share))
    return ([(t.customer_id.encode(), encode(t)) for t in picked],
            {t.transaction_id for t in picked})


#: What each client replaced because librdkafka left it no broker logs (shared.kafka,
#: sink.app, detector.ownership).
STRANDED_LINE = "(librdkafka #5301"

#: The detection cores the suite runs: the core's own loop (mypyc), and the compiled kernel
#: (the default) with 8 customers in slots a partition, so that customers are parked and
#: put back all along.
CORES = {"mypyc": {"AUDITSTREAM_CORE": "compiled"}, "kernel": {"AUDITSTREAM_CORE": "kernel",
                                 "DETECTOR_CORE__HOT_CUSTOMERS": "8"}}


@pytest.mark.parametrize("core", list(CORES))
def test_kills_broker_restart_scale_out_and_poison_lose_double_and_change_no_row(
    broker: BrokerHandle, kafka: KafkaSettings, topic_name: str, tmp_path: Path, core: str
) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    topics = Topics(topic_name, PARTITIONS).create(kafka)
    env = {**base_env(kafka, topics, CORE_ENV, freeze_sources(tmp_path / "src")), **SINK_ENV,
           **CORES[core]}
    source = tmp_path / "payments.csv"
    n = generate_csv(source, env, seed=SEED % 10_000, customers=CUSTOMERS, days=DAYS)
    offline = Service("score", ("auditstream", "score", str(source), "--partitions",  # reference,
                                str(PARTITIONS), "--out", str(tmp_path / "offline")),
                      env, tmp_path).start()  # computed meanwhile
    poison, poison_kinds = poison_items(round(n * POISON_SHARE))

    exports = tmp_path / "exports"
    fleet = Fleet(env, tmp_path, sink(env, exports, tmp_path))
    fleet.track(offline)
    with fleet.supervised(exports, n, lambda: broker_check(
            kafka, topics.input, PARTITIONS, env["DETECTOR_GROUP_ID"])):
        fleet.start_detector("a")
        fleet.sink.start()
        feed = replay(source, env, tmp_path, rate=RATE).start()
        fleet.track(feed)
        fleet.detectors["a"].wait_for("restored", timeout=120)  # kills hit a working detector
        feeder = Feeder(kafka, topics.input, poison, rate=len(poison) * RATE / n,
                        log=tmp_path / "feeder-poison.log")
        fleet.track(feeder)
        feeder.start()

        plan = PLAN if FIXED_PLAN is not None else rng.sample(PLAN, len(PLAN))
        injected: Counter[str] = Counter()
        skipped: dict[str, str] = {}
        during_stream = 0
        for kind in plan:
            fleet.idle(rng.uniform(1.0, 4.0))
            during_stream += feed.alive()
            inject(kind, fleet, broker, rng, injected, skipped)
        stream_s = wait_until(lambda: not feed.alive(), 300, "replay", fleet.check)
        assert feed.wait(1) == 0, feed.logs()[-3000:]
        assert feeder.result(200) == len(poison)
        # The same transactions again (after the first copies were published): dead letters.
        copies, copied_ids = duplicate_items(source, DUPLICATE_SHARE, rng)
        again = Feeder(kafka, topics.input, copies, rate=RATE,
                       log=tmp_path / "feeder-copies.log")
        fleet.track(again)
        again.start()
        assert again.result(120) == len(copies)

        drain_s = 0.0
        try:
            drain_s = drain(exports, n, fleet.check)
        finally:
            time.sleep(2.0)  # a duplicate arriving late would still be caught
            codes = fleet.stop_all()
        assert offline.wait(120) == 0, offline.logs()[-3000:]

        diff = diff_rows(read_scored_csv(exports),
                         read_scored_csv(tmp_path / "offline"),
                         ignore=("source_offset",))  # poison shifts the offsets of valid rows
        dead_all = read_all(kafka, topics.dlq, PARTITIONS, len(poison) + len(copies), timeout=60,
                            settle=1.0)
        dead = [m for m in dead_all if (m.key() or b"") in poison_kinds]
        dupes = [m for m in dead_all if (m.key() or b"") not in poison_kinds]
        dead_keys = Counter(m.key() for m in dead)
        dlq_missing = sorted(k for k in poison_kinds if k not in dead_keys)
        dlq_doubled = sum(c - 1 for c in dead_keys.values() if c > 1)
        dupe_ids = Counter(json.loads(m.value() or b"{}")["transaction_id"] for m in dupes)
        dupes_missing = sorted(copied_ids - set(dupe_ids))
        dupes_doubled = sum(c - 1 for c in dupe_ids.values() if c > 1)
        logs = "\n".join(p.read_text(errors="replace") for p in tmp_path.glob("detector-*.log"))
        figures = {
            "seed": SEED, "transactions": n, "partitions": PARTITIONS, "poison": len(poison),
            "rows_exported": diff.rows, "lost": len(diff.lost), "duplicated": len(diff.duplicated),
            "changed": len(diff.changed), "unexpected": len(diff.unexpected),
            "dead_letters": len(dead), "poison_missing_from_dlq": len(dlq_missing),
            "dead_letters_duplicated": dlq_doubled,
            "second_copies": len(copies), "second_copies_dead_lettered": len(dupes),
            "second_copies_missing_from_dlq": len(dupes_missing),
            "second_copies_dead_lettered_twice": dupes_doubled,
            "exceptions_injected": dict(Counter(
                line.split("injected fault at ")[1].split()[0]
                for line in logs.splitlines() if "injected fault at " in line)),
            "runs": {"detector": sum(d.starts for d in [*fleet.detectors.values(), *fleet.retired]),
                     "sink": fleet.sink.starts},
            "faults": dict(injected), "faults_during_replay": during_stream,
            "skipped": skipped, "unplanned_exits": fleet.unplanned, "hangs": fleet.hangs,
            # why each ended: a passing run keeps it too (its logs go with pytest's folders)
            "last_words": fleet.last_words,
            "fenced": sorted(p.name for p in tmp_path.glob("detector-*.log")
                             if FENCED in p.read_text(errors="replace")),
            "exit_codes": codes,
            # Clients librdkafka left with no broker, replaced (docs/reliability.md).
            "clients_replaced": {
                "feeders": feeder.renewals + again.renewals,
                "services": sum(p.read_text(errors="replace").count(STRANDED_LINE)
                                for p in tmp_path.glob("*.log") if "feeder" not in p.name)},
            # each replacement's warning and the lines before it, by log: why it was made
            "replacements": {p.name: _around(p, STRANDED_LINE) for p in tmp_path.glob("*.log")
                             if STRANDED_LINE in p.read_text(errors="replace")},
            "stream_s": round(stream_s, 1), "drain_s": round(drain_s, 1),
            "runtime_s": round(time.monotonic() - started, 1),
        }
        print("\nfault suite: " + json.dumps(figures, indent=1))
        if os.environ.get("AUDITSTREAM_FAULT_REPORT"):
            Path(os.environ["AUDITSTREAM_FAULT_REPORT"]).write_text(json.dumps(figures, indent=1))

        assert (len(diff.lost), len(diff.duplicated), len(diff.changed), len(diff.unexpected)) == (
            0, 0, 0, 0), diff
        assert dlq_missing == [] and dlq_doubled == 0, (dlq_missing[:5], dlq_doubled)
        classes = [headers_of(m).get("error.class") for m in dead]
        assert classes == [poison_kinds[m.key() or b""] for m in dead]
        assert (dupes_missing, dupes_doubled) == ([], 0), (dupes_missing[:5], dupes_doubled)
        assert {headers_of(m).get("error.class") for m in dupes} == {DUPLICATE_CLASS}
        if EXCEPTIONS:
            assert figures["exceptions_injected"], "no exception was injected"
        assert not any(f"exited {POISON_PILL_EXIT}" in u for u in fleet.unplanned), fleet.unplanned
        assert all(code == 0 for code in codes.values()), codes
        assert fleet.hangs == [], "a detector hung (killed and restarted by the suite)"
        planned = Counter(PLAN)
        assert {k: injected[k] + (k in skipped) for k in planned} == planned, (injected, skipped)


def _around(log: Path, text: str, before: int = 8) -> list[str]:
    """The lines of `log` holding `text`, each with the `before` lines ahead of it."""
    lines = log.read_text(errors="replace").splitlines()
    keep: list[str] = []
    for i, line in enumerate(lines):
        if text in line:
            keep += [*lines[max(0, i - before):i], line, "..."]
    return keep
