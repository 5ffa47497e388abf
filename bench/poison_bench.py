"""Time and peak memory of hostile messages just under the detector's size bound, without Kafka.

`--messages` messages of `--size` bytes (default 262,143: one under
`shared.message_size.MAX_MESSAGE_BYTES`) of one poison shape, or of every shape in turn, go through
the detector's batch path (`BatchProcessor.process`, as tests/unit feed it: the dead
letters' headers kept, their values not) or the sink's (`sink.batch.format_batch`: its
`sink_rejected.jsonl` lines). Each measurement runs in a child process of its own, its peak
resident memory (VmHWM, reset once the messages are built) less the memory in use then,
its wall and CPU time (the CPU time is the figure to compare on a shared machine).
The line ends with a digest of the outcome (each dead letter's class and reason; each
rejected line), equal across two trees that dead-letter the same messages for the same
reasons.

    python bench/poison_bench.py [--path detector|sink|both] [--shape all|each|A,B] [--repeat 3]

Against another tree: PYTHONPATH=/work/main python bench/poison_bench.py (the bench
imports the detector and the sink from the path it is given).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.message_size import MAX_MESSAGE_BYTES

_GOOD = (b'{"transaction_id":"t","customer_id":"c","timestamp":"2025-01-01T00:00:00",'
         b'"amount":1.0,"country":"DE","channel":"web","device":"d","merchant_category":"m"')


def _padded(body: bytes, size: int) -> bytes:
    """`body`, a JSON object, with spaces before its closing brace to `size` bytes."""
    if len(body) > size:
        raise ValueError(f"a shape of {len(body)} bytes does not fit in {size}")
    return body[:-1] + b" " * (size - len(body)) + b"}"


def _huge_string(size: int) -> bytes:
    head = _GOOD + b',"ip":"'
    return _padded(head + b"x" * (size - len(head) - 2) + b'"}', size)


def _deep_nesting(size: int) -> bytes:
    depth = (size - 20) // 2
    return _padded(b'{"attributes":' + b"[" * depth + b"]" * depth + b"}", size)


def _huge_array(size: int) -> bytes:
    items = (size - len(_GOOD) - 20) // 2
    return _padded(_GOOD + b',"attributes":[' + b",".join([b"0"] * items) + b"]}", size)


def _many_keys(size: int) -> bytes:
    return _padded(b"{" + b",".join(b'"%06x":0' % i for i in range((size - 2) // 11)) + b"}",
                   size)


def _many_bad_attributes(size: int) -> bytes:
    return _padded(b'{"attributes":{' + b",".join(
        b'"%06x":[]' % i for i in range((size - 20) // 12)) + b"}}", size)


def _enormous_number(size: int) -> bytes:
    return _padded(b'{"amount":' + b"9" * (size - 12) + b"}", size)


def _amount_digits(size: int) -> bytes:
    """An amount of digits and a letter (a failing match of the old number syntax tried
    every split of the digits: 262 KB took about an hour)."""
    return _padded(b'{"amount":"' + b"9" * (size - 15) + b'x"}', size)


def _digit_runs(size: int) -> bytes:
    """Runs of 999 digits in a field nobody knows (the sink's old scan for 1,000-digit runs
    was retried at every digit: 0.44 s a message)."""
    return _padded(b'{"note":"' + b"9" * 999 + (b" " + b"9" * 999) * ((size - 1012) // 1000)
                   + b'"}', size)


def _control_bytes(size: int) -> bytes:
    """Control characters, not JSON: the sink's rejected line wrote each as a 6-byte
    `\\u0001` (now base64 beyond 2 bytes a byte)."""
    return b"\x01" * size


def _wrong_type(size: int) -> bytes:
    return b"[" + b",".join([b"1"] * ((size - 1) // 2)) + b"]" + b" " * ((size - 1) % 2)


#: The poison shapes, each a message of exactly `size` bytes.
SHAPES: dict[str, Callable[[int], bytes]] = {
    "huge_string": _huge_string,
    "deep_nesting": _deep_nesting,
    "huge_array": _huge_array,
    "many_keys": _many_keys,
    "many_bad_attributes": _many_bad_attributes,
    "enormous_number": _enormous_number,
    "wrong_type": _wrong_type,
    "amount_digits": _amount_digits,
    "digit_runs": _digit_runs,
    "control_bytes": _control_bytes,
}
#: The shapes of `--shape all`, in turn; those found in this bench's first runs measured
#: apart (on the code before the fix, 100 messages of `amount_digits` took days).
MIXED = [n for n in SHAPES if n not in ("amount_digits", "digit_runs", "control_bytes")]


def messages(shape: str, count: int, size: int) -> list[bytes]:
    """`count` messages of `shape` (`all`: those of `MIXED` in turn), each of `size` bytes."""
    names = MIXED if shape == "all" else [shape]
    made = {n: SHAPES[n](size) for n in names}
    return [made[names[i % len(names)]] for i in range(count)]


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise LookupError(field)


def _detector(values: list[bytes]) -> Callable[[], list[bytes]]:
    from detector.loop import BatchProcessor
    from detector.partition import PartitionState
    from tests.unit.detector_fakes import CountingEngine, FakeMessage, RecordingOutput

    out = RecordingOutput()
    proc = BatchProcessor(out, 10**9)
    proc.parts[0] = PartitionState(CountingEngine(), 0)
    recs = [FakeMessage(0, i, v) for i, v in enumerate(values)]

    def run() -> list[bytes]:
        proc.process(recs)
        return [dict(h)["error.class"] + b"|" + dict(h)["error.message"]
                for _r, h in out.dead_letters]
    return run


def _sink(values: list[bytes]) -> Callable[[], list[bytes]]:
    from sink.batch import format_batch
    from sink.rollup import RollupParams

    params = RollupParams()
    format_batch([(0, 0, b"{}")], params)  # imports and first-call costs outside the measure
    recs = [(0, i, v) for i, v in enumerate(values)]
    return lambda: format_batch(recs, params).rejected


def child(path: str, shape: str, count: int, size: int) -> dict[str, Any]:
    """One measurement, in this process (the parent starts one child per measurement)."""
    values = messages(shape, count, size)
    run = (_detector if path == "detector" else _sink)(values)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM back to the memory in use
    before = _kib("VmRSS:")
    start, cpu = time.perf_counter(), time.process_time()
    outcome = run()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    growth = _kib("VmHWM:") - before
    digest = hashlib.sha256(b"\n".join(outcome)).hexdigest()[:12]
    return {"path": path, "shape": shape, "messages": count, "size": size,
            "outcomes": len(outcome), "outcome_bytes": sum(map(len, outcome)),
            "seconds": seconds, "cpu_seconds": cpu, "peak_growth_mib": growth / 1024,
            "growth_per_byte": growth * 1024 / (count * size), "digest": digest}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", choices=["detector", "sink", "both"], default="both")
    ap.add_argument("--shape", default="all",
                    help="all (MIXED in turn), each (every shape alone, as `--shape "
                         "a,b` does those), or a shape's name")
    ap.add_argument("--messages", type=int, default=100)
    ap.add_argument("--size", type=int, default=MAX_MESSAGE_BYTES - 1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.path, args.shape, args.messages, args.size)))
        return
    paths = ["detector", "sink"] if args.path == "both" else [args.path]
    shapes = list(SHAPES) if args.shape == "each" else args.shape.split(",")
    unknown = set(shapes) - {*SHAPES, "all"}
    if unknown:
        ap.error(f"--shape: no shape {', '.join(sorted(unknown))}; one of {', '.join(SHAPES)}")
    root = Path(__file__).resolve().parent.parent
    for path in paths:
        for shape in shapes:
            runs = []
            for _ in range(args.repeat):
                done = subprocess.run(
                    [sys.executable, __file__, "--child", "--path", path, "--shape", shape,
                     "--messages", str(args.messages), "--size", str(args.size)],
                    capture_output=True, check=True, text=True, cwd=root)
                runs.append(json.loads(done.stdout))
            digests = {r["digest"] for r in runs}
            print(f"{path:8s} {shape:20s} {args.messages} x {args.size:,} B: "
                  f"{statistics.median(r['seconds'] for r in runs):7.3f} s "
                  f"(CPU {statistics.median(r['cpu_seconds'] for r in runs):7.3f}), peak "
                  f"+{statistics.median(r['peak_growth_mib'] for r in runs):6.1f} MiB "
                  f"({statistics.median(r['growth_per_byte'] for r in runs):5.2f} B/B), "
                  f"{runs[0]['outcomes']} out, {runs[0]['outcome_bytes']:,} B, "
                  f"digest {'/'.join(sorted(digests))}", flush=True)


if __name__ == "__main__":
    main()
