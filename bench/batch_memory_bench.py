"""Peak memory of one detector batch of maximum-size valid messages (issue 14's GC pause).

`BatchProcessor.process` pauses the cyclic GC for a batch. This measures the resident peak
(VmHWM) of a fresh process around one batch of `--records` messages, each at every text
limit of the schema with 4-byte UTF-8 characters (32 attributes: the largest valid message),
through the fast decoder, the dedupe index, an identity engine and the joined encode, the
output discarded (the producer's queue is librdkafka's, bounded by its own settings).
`--gc-on` runs the same batch with the pause replaced by nothing, for comparison; `--ascii`
writes every character as "x" (the largest ASCII message).

    python bench/batch_memory_bench.py --records 5000 [--gc-on] [--ascii]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
from pathlib import Path
from typing import Any

import orjson
from detector_bench import Message

import detector.loop as loop
from detector.core.verdict import Verdict
from detector.dedupe import DedupeIndex
from detector.loop import BatchProcessor
from detector.partition import PartitionState
from shared import fastcodec
from shared.schemas import (
    MAX_ATTRIBUTE_KEY_CHARS,
    MAX_ATTRIBUTE_VALUE_CHARS,
    MAX_ATTRIBUTES,
    TEXT_LIMITS,
)

WIDE = "\U0001f600"  # 4 bytes in UTF-8 and in a Python str (`--ascii`: "x", 1 byte)


def _peak_kb() -> tuple[int, int]:
    """(VmHWM, VmRSS) of this process in kB."""
    status = Path("/proc/self/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status)
    return int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0])


_fill = [WIDE]


def _text(n: int, head: str = "") -> str:
    return head + _fill[0] * (n - len(head))


def message(i: int) -> bytes:
    """The `i`-th largest valid message (unique id; every field at its limit)."""
    doc = {"schema_version": 1, "transaction_id": _text(TEXT_LIMITS["transaction_id"], str(i)),
           "customer_id": _text(TEXT_LIMITS["customer_id"], str(i % 1000)),
           "timestamp": "2025-01-01T00:00:00.000001", "amount": -999999999999.9999,
           "country": _text(TEXT_LIMITS["country"]), "channel": _text(TEXT_LIMITS["channel"]),
           "device": _text(TEXT_LIMITS["device"]),
           "merchant_category": _text(TEXT_LIMITS["merchant_category"]),
           "ip": _text(TEXT_LIMITS["ip"]), "is_anomaly": False,
           "anomaly_type": _text(TEXT_LIMITS["anomaly_type"]),
           "attributes": {_text(MAX_ATTRIBUTE_KEY_CHARS, f"{k:02d}"):
                          _text(MAX_ATTRIBUTE_VALUE_CHARS) for k in range(MAX_ATTRIBUTES)}}
    return orjson.dumps(doc)


class _Identity:
    def verdicts(self, txs: Any) -> list[Any]:
        return [Verdict(score=0.0, model_version="identity") for _ in txs]

    def snapshot(self) -> bytes:
        return b""


class _Discard:
    def __init__(self) -> None:
        self.rows = self.bytes = 0

    def scored(self, key: bytes, value: bytes) -> None:
        self.rows += 1
        self.bytes += len(key) + len(value)

    def dead(self, record: Any, headers: Any) -> None:
        raise AssertionError("a valid message was dead-lettered")

    def checkpoint(self, *args: Any) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--gc-on", action="store_true", help="no GC pause (for comparison)")
    ap.add_argument("--ascii", action="store_true", help="ASCII text (1 byte a character)")
    args = ap.parse_args()
    if args.ascii:
        _fill[0] = "x"
    if args.gc_on:
        setattr(loop, "gc_paused", contextlib.nullcontext)  # noqa: B010 (not exported)
    one = message(0)
    assert fastcodec.decode_record(one) is not None, "the fast decoder declined the message"
    start, _ = _peak_kb()
    msgs = [Message(i, message(i)) for i in range(args.records)]
    built, _ = _peak_kb()
    out = _Discard()
    proc = BatchProcessor(out, 10**9)
    proc.parts[0] = PartitionState(_Identity(), 0, dedupe=DedupeIndex(86_400))
    before = gc.get_stats()
    proc.process(msgs)
    peak, rss = _peak_kb()
    assert out.rows == args.records
    collections = [a["collections"] - b["collections"]
                   for a, b in zip(gc.get_stats(), before, strict=True)]
    json.dump({"records": args.records, "gc_paused": not args.gc_on, "ascii": args.ascii,
               "message_bytes": len(one), "input_mb": round(sum(len(m._value) for m in msgs)
                                                           / 2**20, 1),
               "output_mb": round(out.bytes / 2**20, 1),
               "peak_mb_at_start": round(start / 1024, 1),
               "peak_mb_with_the_batch_read": round(built / 1024, 1),
               "peak_mb_after_process": round(peak / 1024, 1),
               "process_added_mb": round((peak - built) / 1024, 1),
               "rss_mb_after": round(rss / 1024, 1), "gc_collections": collections},
              sys.stdout)
    print()


if __name__ == "__main__":
    main()
