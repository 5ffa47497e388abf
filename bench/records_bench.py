"""Cost of a customer's checkpoint record and of parking it, per customer, on the kernel.

    .venv/bin/python bench/records_bench.py [--customers 3000] [--days 14] [--rounds 3]

Generates the default mix (`--customers`, `--days`), scores it on one kernel engine, then
times, over every customer in a slot, in the same process and round after round:
the record as Python built it (`slots.field_rows`, then `stateparts.encode_fields` for
each) against the compiled writer (`records.records`, checked equal), each step of the
latter, and parking and putting back as the kernel's bytes (`parking.park`,
`parking.unpark`) against the record's JSON (`packed.pack_values` over `field_rows`,
`field_values` into `store_columns`, as before docs/kernel.md (r)). CPU time
(`time.process_time`), us per customer; the size of the records and of the parked bytes.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.packed import field_values, pack_values
from detector.core.stateparts import encode_fields
from detector.kernel import parking, records
from detector.kernel import slots as sl
from detector.kernel.rows import KernelRows
from producer.generator import GeneratorConfig, generate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ["AUDITSTREAM_CORE"] = "kernel"
    txs = sorted(generate(GeneratorConfig(seed=3, customers=args.customers, days=args.days)),
                 key=lambda t: t.timestamp)
    engine = PartitionEngine(CoreConfig(), 0)
    for i in range(0, len(txs), 500):
        engine.verdicts(txs[i:i + 500])
    rows = engine._kernel
    assert isinstance(rows, KernelRows)
    cs = np.flatnonzero(rows._entry_of >= 0)
    n = len(cs)
    seqs = np.arange(n, dtype=np.int64)
    words = records.Words()
    words.update(rows.codes.values)
    print(f"records_bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, python {platform.python_version()}, "
          f"{len(txs):,} rows, {n:,} customers in slots (CPU us a customer)")
    gc.disable()  # as the detector's loop runs (shared.gcpause): no collection in a timing
    for r in range(args.rounds):
        t0 = time.process_time()
        want = [encode_fields(i, row) for i, row in
                enumerate(sl.field_rows(rows._slots, cs, rows.codes))]
        t1 = time.process_time()
        got = records.records(rows._s, rows._slots, cs, seqs, words)
        t2 = time.process_time()
        if got != want:
            raise SystemExit("the compiled records differ from encode_fields")
        steps = _steps(rows, cs, seqs, words)
        t3 = time.process_time()
        held = parking.park(rows._s, cs)
        t4 = time.process_time()
        free = rows._take(n)
        rows._grow_slots(n)
        at = np.array(free, np.int64)
        t5 = time.process_time()
        parking.unpark(rows._s, at, held)
        t6 = time.process_time()
        sl.reset_rows(rows._slots, at)
        t7 = time.process_time()
        packed = [pack_values(v) for v in sl.field_rows(rows._slots, cs, rows.codes)]
        t8 = time.process_time()
        sl.store_columns(sl.columns([field_values(p) for p in packed]), rows._slots, at,
                         rows.codes, fresh=True)
        t9 = time.process_time()
        sl.reset_rows(rows._slots, at[::-1])  # the spare slots free again, as taken
        rows._free.extend(reversed(free))
        print(f"  round {r}: record python {(t1 - t0) / n * 1e6:.2f}, compiled "
              f"{(t2 - t1) / n * 1e6:.2f} ({steps}); park as JSON {(t8 - t7) / n * 1e6:.2f}, "
              f"as bytes {(t4 - t3) / n * 1e6:.2f}; put back from JSON "
              f"{(t9 - t8) / n * 1e6:.2f}, from bytes {(t6 - t5) / n * 1e6:.2f}")
    print(f"  bytes a customer: record {np.mean([len(x) for x in want]):,.0f}, parked "
          f"{np.mean([len(h) for h in held]):,.0f}")
    return 0


def _steps(rows: KernelRows, cs: np.ndarray, seqs: np.ndarray, words: records.Words) -> str:
    """`records.records`' steps, timed one by one."""
    n = len(cs)
    t = [time.process_time()]  # then one more after each step
    floats = np.empty(records._most_floats(rows._slots, n), np.float64)
    m = records._gather(rows._s, cs, floats)
    t.append(time.process_time())
    text = np.frombuffer(orjson.dumps(floats[:m], option=orjson.OPT_SERIALIZE_NUMPY),
                         np.uint8)
    t.append(time.process_time())
    commas = np.flatnonzero(text == ord(","))
    fa = np.concatenate(([1], commas + 1))
    fb = np.concatenate((commas, [len(text) - 1]))
    t.append(time.process_time())
    ends = np.empty(n, np.int64)
    args = (records.FRAGMENTS, records.FRAGMENT_AT, text, fa, fb, words.text, words.at)
    records._write_all(rows._s, cs, seqs, np.empty(0, np.uint8), ends, *args, False)
    t.append(time.process_time())
    out = np.empty(int(ends[-1]), np.uint8)
    records._write_all(rows._s, cs, seqs, out, ends, *args, True)
    t.append(time.process_time())
    data = out.tobytes()
    cut = [data[a:b] for a, b in zip([0, *ends[:-1].tolist()], ends.tolist(), strict=True)]
    assert len(cut) == n
    t.append(time.process_time())
    names = ("gather", "orjson", "commas", "count", "write", "cut")
    return ", ".join(f"{k} {(b - a) / n * 1e6:.2f}"
                     for k, a, b in zip(names, t[:-1], t[1:], strict=True))


if __name__ == "__main__":
    sys.exit(main())
