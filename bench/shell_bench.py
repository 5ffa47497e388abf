"""CPU cost a record of the detector's batch loop without Kafka, against another checkout.

`BatchProcessor.process` over consumed-like messages (`detector_bench.make_transactions`,
encoded as the producer does), 4 partitions, the detector's batch size and duplicate
check, an output that
keeps a digest of every scored row and dead letter: the shell alone (an identity engine)
and the full loop (the default kernel core). `--compare OTHER` runs this tree and OTHER at
the same time, `--rounds` times, each in a fresh process, and prints the medians and the
median of the ratios (on a loaded shared machine both see the same load), and whether the
two trees wrote the same bytes.

    .venv/bin/python bench/shell_bench.py [--records 50000] [--profile]
    .venv/bin/python bench/shell_bench.py --compare /tmp/main-tree [--rounds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 4
MODES = ("identity", "kernel")


class DigestOutput:
    """Drops the rows but keeps a digest of them (keys, values, dead letters' headers)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def scored(self, key: bytes, value: bytes) -> None:
        self.digest.update(key + b"\0" + value + b"\n")

    def dead(self, record: Any, headers: list[tuple[str, bytes]]) -> None:
        self.digest.update(repr((record.offset(), headers)).encode() + b"\n")

    def checkpoint(self, partition: int, next_offset: int, changes: Any, ledger: Any) -> None:
        ledger.number += 1


class Message:
    __slots__ = ("_offset", "_partition", "_value")

    def __init__(self, partition: int, offset: int, value: bytes) -> None:
        self._partition, self._offset, self._value = partition, offset, value

    def topic(self) -> str | None:
        return "t"

    def partition(self) -> int | None:
        return self._partition

    def offset(self) -> int | None:
        return self._offset

    def key(self) -> bytes | None:
        return None

    def value(self) -> bytes | None:
        return self._value


def run(tree: str, records: int, customers: int, profile: bool) -> dict[str, Any]:
    """us a record of each mode in this process (the tree first on sys.path)."""
    sys.path[:0] = [tree, str(Path(tree) / "bench")]
    from detector_bench import IdentityFactory, make_transactions

    from detector.core.config import CoreConfig
    from detector.dedupe import DedupeIndex
    from detector.loop import BatchProcessor
    from detector.partition import CoreEngineFactory, PartitionState
    from detector.settings import DetectorSettings
    from shared.codec import encode

    txs = make_transactions(records, customers)
    counts = [0] * PARTITIONS
    msgs = []
    for i, t in enumerate(txs):
        p = i % PARTITIONS
        msgs.append(Message(p, counts[p], encode(t)))
        counts[p] += 1
    batch = DetectorSettings().batch_size
    CoreEngineFactory(CoreConfig()).new(0).verdicts(txs[:50])  # the kernel's cache loaded
    result: dict[str, Any] = {}
    for mode in MODES:
        factory = IdentityFactory() if mode == "identity" else CoreEngineFactory(CoreConfig())
        out = DigestOutput()
        proc = BatchProcessor(out, snapshot_every=20_000)
        for p in range(PARTITIONS):
            # the duplicate check on, as the detector's default (its horizon the TTL's)
            proc.parts[p] = PartitionState(factory.new(p), 0, dedupe=DedupeIndex(
                DetectorSettings().dedupe_horizon))
        prof = None
        if profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        start = time.process_time()
        for lo in range(0, len(msgs), batch):
            proc.process(msgs[lo:lo + batch])
        result[mode] = 1e6 * (time.process_time() - start) / len(msgs)
        result[f"{mode} digest"] = out.digest.hexdigest()[:16]
        if prof is not None:
            import pstats

            prof.disable()
            print(f"--- {mode}", file=sys.stderr)
            pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(18)
    return result


def _start(tree: str, args: argparse.Namespace) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--tree", tree, "--records", str(args.records),
         "--customers", str(args.customers), "--json"],
        env={**os.environ, "PYTHONPATH": tree}, stdout=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"a run failed (exit {proc.returncode})")
    return json.loads(out.splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(ROOT))
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--profile", action="store_true", help="cProfile, top self time")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--compare", help="another checkout, run beside this one")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not args.compare:
        result = run(args.tree, args.records, args.customers, args.profile)
        print(json.dumps(result) if args.json else result)
        return 0
    runs: dict[str, list[dict[str, Any]]] = {args.compare: [], str(ROOT): []}
    for _ in range(args.rounds):
        started = {tree: _start(tree, args) for tree in runs}
        for tree, proc in started.items():
            runs[tree].append(_result(proc))
    print(f"shell_bench, {args.records:,} records, {args.customers:,} customers, "
          f"{PARTITIONS} partitions, rounds {args.rounds}, load {os.getloadavg()[0]:.1f}")
    base, this = runs.values()
    for mode in MODES:
        a, b = [r[mode] for r in base], [r[mode] for r in this]
        ratios = [y / x for x, y in zip(a, b, strict=True)]
        same = {r[f"{mode} digest"] for r in base + this}
        print(f"  {mode:<8} {args.compare}: {statistics.median(a):.2f} us, this tree "
              f"{statistics.median(b):.2f} us, median ratio {statistics.median(ratios):.3f} "
              f"({', '.join(f'{r:.3f}' for r in ratios)}); outputs "
              f"{'identical' if len(same) == 1 else 'DIFFER ' + str(sorted(same))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
