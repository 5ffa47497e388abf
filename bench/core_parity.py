"""Bit-for-bit parity of the detection core: a digest of every verdict on fixed data.

    .venv/bin/python bench/core_parity.py --write bench/core_parity.json   # record
    .venv/bin/python bench/core_parity.py --check bench/core_parity.json   # compare

Runs `PartitionEngine.verdicts` (batches of 500) over generated data of the three mixes
the quality bench uses (default, extended, the reference recipe) and a small-bounds case
(full population tables, customer eviction), with refits every 8,000 rows so the model
path runs, and hashes every verdict (msgspec JSON: score, model score, reasons, flags...)
in order, and the final snapshot's bytes. Each case is also run again from a snapshot
restored midway and from an incremental checkpoint resumed midway: both must give the
uninterrupted run's digest. A speed-up of the core must leave every digest unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.core import KIND
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from shared.schemas import Transaction

BATCH = 500
_ENCODE = msgspec.json.Encoder()


def _mix(mix: str, customers: int, days: int) -> Callable[[], list[Transaction]]:
    def make() -> list[Transaction]:
        from producer.generator import generate_with_changes, mix_config

        txs, _ = generate_with_changes(mix_config(mix, seed=7, customers=customers, days=days))
        return sorted(txs, key=lambda t: t.timestamp)
    return make


def _reference() -> list[Transaction]:
    from producer.reference_recipe import ReferenceConfig, generate_reference

    return sorted(generate_reference(ReferenceConfig(seed=7, transactions=40_000,
                                                     customers=800)),
                  key=lambda t: t.timestamp)


CASES: dict[str, tuple[Callable[[], list[Transaction]], dict[str, object]]] = {
    "default": (_mix("default", 600, 30), {}),
    "extended": (_mix("extended", 600, 30), {}),
    "reference": (_reference, {}),
    "bounds": (_mix("default", 400, 20),
               {"max_population_keys": 16, "max_customers": 150, "max_seen": 3}),
}


def _run(engine: PartitionEngine, txs: Sequence[Transaction], digest: Any) -> None:
    for i in range(0, len(txs), BATCH):
        for v in engine.verdicts(txs[i:i + BATCH]):
            digest.update(_ENCODE.encode(v))
            digest.update(b"\n")


def case_digests(name: str) -> dict[str, object]:
    make, overrides = CASES[name]
    txs = make()
    # refit_delay 0: the digests were recorded before background refits (their own tests
    # compare a delayed model with the synchronous fit, tests/unit/test_core_refit.py)
    config = CoreConfig.model_validate({"refit_every": 8_000, "refit_delay": 0, **overrides})
    half = (len(txs) // 2 // BATCH) * BATCH + 137  # not on a batch boundary
    start = time.perf_counter()
    whole = hashlib.sha256()
    engine = PartitionEngine(config, 0)
    _run(engine, txs[:half], whole)
    mid = whole.copy()
    changes = engine.checkpoint(full=True)
    snap = engine.snapshot()
    _run(engine, txs[half:], whole)
    seconds = time.perf_counter() - start
    final = hashlib.sha256(engine.snapshot()).hexdigest()
    out: dict[str, object] = {"rows": len(txs), "verdicts": whole.hexdigest(),
                              "snapshot": final, "us_per_row": 1e6 * seconds / len(txs)}
    parts = {k: v for k, v in changes.parts.items() if v is not None}
    for how in ("restored", "resumed"):
        again = mid.copy()
        engine = (PartitionEngine.restore(snap, config) if how == "restored"
                  else PartitionEngine.resume(parts, changes.customers, config))
        _run(engine, txs[half:], again)
        out[how] = again.hexdigest() == whole.hexdigest() and hashlib.sha256(
            engine.snapshot()).hexdigest() == final
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", help="record the digests in this JSON file")
    parser.add_argument("--check", help="compare with the digests in this JSON file")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    args = parser.parse_args(argv)
    print("core:", KIND, flush=True)  # compiled or Python: both must give the same digests
    results = {}
    for name in args.cases:
        results[name] = case_digests(name)
        print(name, json.dumps(results[name]), flush=True)
    failed = [n for n, r in results.items() if not (r["restored"] and r["resumed"])]
    if args.write:
        stable = {n: {k: v for k, v in r.items() if k != "us_per_row"}
                  for n, r in results.items()}
        Path(args.write).write_text(json.dumps(stable, indent=1, sort_keys=True) + "\n")
    if args.check:
        want = json.loads(Path(args.check).read_text())
        for n, r in results.items():
            for key in ("rows", "verdicts", "snapshot"):
                if want[n][key] != r[key]:
                    failed.append(f"{n}.{key}")
    print("parity:", "FAILED " + ", ".join(failed) if failed else "identical")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
