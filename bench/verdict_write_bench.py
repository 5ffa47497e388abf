"""From the engine's verdict inputs to the scored messages' bytes: today's chain against a
writer from columns, in one process (measured, not kept: docs/benchmarks.md, "Issue 14:
from the verdicts to produce()").

Today: `rowloop.verdicts` (a `Verdict`, a rule-flags dict and the top reasons a row; the
mypyc build when the tree has one) then `fastcodec.encode_scored` a row. Columns: the same
numbers and `top_reasons`, but no `Verdict` and no dict: each batch's floats, offsets,
records and reasons encoded by msgspec in one call each and split, the rest (flags, rules,
version, partition) bytes cached by value, a row joined once. The inputs are the kernel
engine's own (`engine.verdicts`' arguments, captured), the rows `detector_bench`'s, fast
decoded as the detector reads them; every batch's bytes are compared before timing.
`--produce` adds produce() against produce_batch() a message (confluent-kafka, a producer
whose broker does not answer: the client's own cost, librdkafka's queueing without a broker).

    .venv/bin/python bench/verdict_write_bench.py [--rows 40000] [--passes 9] [--produce]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import msgspec
import numpy as np

BATCH = 500
PARTITION = 0
_ENC = msgspec.json.Encoder()
_BOOL = (b"false", b"true")


def capture(rows: int, customers: int = 2_000,
            config: Any = None) -> list[tuple[Any, list[int], list[Any]]]:
    """Each batch's `verdicts` arguments from an engine of `config` (the default core's),
    with the batch's offsets and records."""
    from detector_bench import make_transactions

    from detector.core import engine as engine_module
    from detector.core.config import CoreConfig
    from detector.partition import CoreEngineFactory
    from shared.codec import encode
    from shared.fastcodec import decode_record

    recs: list[Any] = [decode_record(encode(t)) for t in make_transactions(rows, customers)]
    captured: list[Any] = []
    real: Any = getattr(engine_module, "verdicts")  # noqa: B009 (patched where the engine reads it)

    def grab(*args: Any) -> Any:
        captured.append(args)
        return real(*args)

    setattr(engine_module, "verdicts", grab)  # noqa: B010
    try:
        engine = CoreEngineFactory(config or CoreConfig()).new(PARTITION)
        for lo in range(0, rows, BATCH):
            engine.verdicts(recs[lo:lo + BATCH])
    finally:
        setattr(engine_module, "verdicts", real)  # noqa: B010
    jobs = []
    for k, args in enumerate(captured):
        lo = k * BATCH
        jobs.append((args, list(range(lo + 7, lo + 7 + len(args[0]))), recs[lo:lo + BATCH]))
    return jobs


def today(args: Any, offsets: list[int], recs: list[Any]) -> list[bytes]:
    from detector.core.rowloop import verdicts
    from shared.fastcodec import encode_scored

    buffer = bytearray()
    return [encode_scored(r, v, PARTITION, o, buffer)
            for r, v, o in zip(recs, verdicts(*args), offsets, strict=True)]


def _parts(numbers: list[Any]) -> list[bytes]:
    """Each number's JSON, as msgspec writes it in a row (one call for the batch)."""
    return _ENC.encode(numbers)[1:-1].split(b",")


_FRAGMENTS: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}


def _fragments(fired: dict[str, str], flag: bool, version: str) -> tuple[bytes, bytes]:
    """The bytes between a row's `is_ml_flag` and its reasons, and between those and its
    offset (made once per value)."""
    key = (tuple(fired), flag, version)
    got = _FRAGMENTS.get(key)
    if got is None:
        from detector.core.rules import RULES

        names = tuple(RULES)
        head = (b',"rule_flags":' + _ENC.encode({n: n in fired for n in names})
                + b',"is_rule_flag":' + _BOOL[bool(fired)] + b',"is_flag":' + _BOOL[flag]
                + b',"reasons_top3":')
        tail = (b',"triggered_rules":' + _ENC.encode([n for n in names if n in fired])
                + b',"model_version":' + _ENC.encode(version)
                + b',"source_partition":' + str(PARTITION).encode() + b',"source_offset":')
        got = _FRAGMENTS[key] = (head, tail)
    return got


def columns(args: Any, offsets: list[int], recs: list[Any]) -> list[bytes]:
    """`today`'s bytes without a `Verdict` or a rule-flags dict (rowloop.verdicts' numbers,
    copied)."""
    from detector.core.model import RULES_ONLY
    from detector.core.reasons import top_reasons
    from detector.core.rounding import rounded
    from detector.core.rowloop import _MODEL_REASON

    rows, strengths, segments, _, cfg = args
    n = len(rows)
    total = np.array([row[4] for row in rows], dtype=np.float64)
    fired_n = np.array([len(row[1]) for row in rows], dtype=np.float64)
    model_score = np.zeros(n, dtype=np.float64)
    for a, b, model in segments:
        if model is not None and b > a:
            s = strengths[a:b]
            model_score[a:b] = rounded(model.scores(s), 6)
            excess = s - cfg.surprise_floor
            total[a:b] = total[a:b] + cfg.model_weight * np.where(excess > 0.0, excess, 0.0)
    total = np.where(fired_n > 0.0, total + cfg.rule_surprise * fired_n, total)
    with np.errstate(all="ignore"):
        mapped = np.where(total > 0.0, total / (total + cfg.score_half), 0.0)
    mapped = np.where(mapped < 0.0, 0.0, mapped)
    scores: list[float] = rounded(np.where(mapped > 1.0, 1.0, mapped), 6).tolist()
    score_json, offset_json = _parts(scores), _parts(offsets)
    heads = _ENC.encode_lines(recs).split(b"}\n")  # each record's object without its "}"
    out: list[bytes] = []
    for a, b, model in segments:
        version = model.version if model is not None else RULES_ONLY
        ml = [False] * (b - a)
        model_json = [b"null"] * (b - a)
        if model is not None and b > a:
            values = model_score[a:b].tolist()
            ml = [v >= cfg.ml_threshold for v in values]
            model_json = _parts(values)
        reasons = _ENC.encode_lines([
            top_reasons(rows[i][1], rows[i][2], rows[i][3], _MODEL_REASON if ml[i - a] else None,
                        cfg.surprise_floor)
            if rows[i][1] or rows[i][3] or ml[i - a] else [] for i in range(a, b)]).split(b"\n")
        for i in range(a, b):
            fired = rows[i][1]
            flag = ml[i - a] or bool(fired) or scores[i] >= cfg.score_threshold
            head, tail = _fragments(fired, flag, version)
            out.append(b"".join((heads[i], b',"score":', score_json[i], b',"model_score":',
                                 model_json[i - a], b',"is_ml_flag":', _BOOL[ml[i - a]], head,
                                 reasons[i - a], tail, offset_json[i], b"}")))
    return out


def check(jobs: list[tuple[Any, list[int], list[Any]]]) -> int:
    """Raise unless both writers give the same bytes for every batch; the rows compared."""
    n = 0
    for job in jobs:
        old, new = today(*job), columns(*job)
        if old != new:
            raise AssertionError(next((x, y) for x, y in zip(old, new, strict=False) if x != y))
        n += len(old)
    return n


def _timed(passes: int, ways: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    spent: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(passes):
        for name, way in ways.items():
            start = time.process_time()
            way()
            spent[name].append(time.process_time() - start)
    return spent


def _report(spent: dict[str, list[float]], n: int, base: str) -> None:
    for name, runs in spent.items():
        ratios = [x / y for x, y in zip(runs, spent[base], strict=True)]
        print(f"  {name:<28} {1e6 * statistics.median(runs) / n:6.3f} us a row, "
              f"ratio to {base} {statistics.median(ratios):.3f}")


def _produce(passes: int, n: int) -> None:
    from confluent_kafka import Producer

    values = [b"x" * 630 + str(i).encode() for i in range(n)]
    keys = [b"c%d" % (i % 2_000) for i in range(n)]

    def producer() -> Any:
        p = Producer({"bootstrap.servers": "127.0.0.1:9", "logger": lambda *a: None,
                      "queue.buffering.max.messages": 10_000_000,
                      "queue.buffering.max.kbytes": 4_000_000})
        p.produce("t", b"first", b"k")  # the topic's handle made before the clock
        return p

    def one() -> None:
        produce = producer().produce
        for k, v in zip(keys, values, strict=True):
            produce("t", v, k)

    def batch() -> None:
        p = producer()
        for lo in range(0, n, BATCH):
            messages = [{"key": k, "value": v}
                        for k, v in zip(keys[lo:lo + BATCH], values[lo:lo + BATCH], strict=True)]
            if p.produce_batch("t", messages) != len(messages):
                raise AssertionError("a message was not queued")

    _report(_timed(passes, {"produce() a message": one,
                            "produce_batch() (dicts in)": batch}), n, "produce() a message")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--passes", type=int, default=9)
    parser.add_argument("--produce", action="store_true")
    a = parser.parse_args()
    from detector.core import rowloop

    jobs = capture(a.rows)
    n = check(jobs)
    print(f"verdict_write_bench: {n:,} rows in batches of {BATCH}, the same bytes; rowloop "
          f"{'compiled' if rowloop.__file__.endswith('.so') else 'as Python'}")
    _report(_timed(a.passes, {
        "today (verdicts + encode)": lambda: [today(*job) for job in jobs],
        "columns": lambda: [columns(*job) for job in jobs],
    }), n, "today (verdicts + encode)")
    if a.produce:
        _produce(a.passes, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
