"""bench/chaos_soak.py's event kinds of the twenty-first session (seeds `KINDS_FROM` on).

- `poison_state`: one record on each partition of the detectors' state topic (another
  writer of it, a copying tool, a truncated restore) under the keys a restore reads: the
  latest manifest cut short, a JSON list or a manifest missing its parts in its place, a
  customer record or a part's chunk cut short, a customer record whose `ck` header is no
  number, a record under the previous layout's key that is no JSON (`SHAPES`); 3 times in
  4 a live detector is killed -9 0-1.5 s later and restarted, so partitions are restored
  over the poison. A restore must take such a checkpoint for unusable and rebuild the
  partition from its input history (docs/detector.md, "State recovery"): every row once,
  no exit.
- `reconfigure_detector`: a live detector killed -9 (or SIGTERMed: exit 0 required) and
  started again with one setting changed to another valid value that must not change a
  row (`SETTINGS`: its batch size, commit interval, snapshot spacing and chunk size, the
  core, the kernel's hot customers, its poll timeout): a deployment rolled out with a new
  configuration mid-stream, restoring checkpoints the old one wrote. The setting stays
  with that detector's later restarts.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos_soak import Chaos

KINDS = {"poison_state": 2, "reconfigure_detector": 2}
KINDS_FROM = 840
#: The most seconds between the state poison and the kill -9 of a detector.
KILL_WITHIN_S = 1.5
#: The longest wait (supervised) for a first checkpoint on the state topic to poison.
STATE_WAIT_S = 60.0
#: How often the poison is followed by a detector's kill -9 and restart.
KILL_SHARE = 0.75
#: `reconfigure_detector`'s settings and the values drawn from (each valid; none may
#: change a row: the core is batch-size independent and its outputs the same whatever
#: `hot_customers` is, on either core: docs/detector.md, docs/kernel.md). The chunk size's
#: least is 8 KiB, not the setting's 1 KiB: a soak customer's record reaches 3.7 KB, and one
#: over the chunk size is refused by design (docs/detector.md, DETECTOR_SNAPSHOT_CHUNK_BYTES).
SETTINGS: dict[str, tuple[str, ...]] = {
    "DETECTOR_BATCH_SIZE": ("1", "7", "500", "5000", "50000"),
    "DETECTOR_COMMIT_INTERVAL_MS": ("1", "100", "3000"),
    "DETECTOR_SNAPSHOT_EVERY": ("1", "37", "1000", "20000"),
    "DETECTOR_SNAPSHOT_CHUNK_BYTES": ("8192", "524288", "921600"),
    "AUDITSTREAM_CORE": ("kernel", "compiled", "python"),
    "DETECTOR_CORE__HOT_CUSTOMERS": ("1", "8", "20000"),
    "DETECTOR_POLL_TIMEOUT_S": ("0.001", "0.05", "2"),
}
#: The defaults of `SETTINGS` where the soak's environment does not set them.
DEFAULTS = {"DETECTOR_BATCH_SIZE": "5000", "DETECTOR_COMMIT_INTERVAL_MS": "100",
            "DETECTOR_SNAPSHOT_CHUNK_BYTES": "524288", "DETECTOR_CORE__HOT_CUSTOMERS": "20000",
            "DETECTOR_POLL_TIMEOUT_S": "0.05"}

#: A record's headers as read (a header may have no value).
Headers = list[tuple[str, bytes | None]]
Record = tuple[bytes, bytes | None, Headers]


def _latest(records: list[Record], prefix: str, kind: str) -> Record | None:
    """The latest record with a value under `<prefix>/<kind>` (kind `m`, `c/`, `p/`)."""
    want = f"{prefix}/{kind}".encode()
    found = [r for r in records if r[1] is not None and r[2]
             and (r[0] == want if kind == "m" else r[0].startswith(want))]
    return found[-1] if found else None


def _cut(record: Record) -> Record:
    key, value, headers = record
    return key, (value or b"")[: len(value or b"") // 2], headers


def _readable(record: Record) -> bool:
    """Whether `record` is a manifest as the detector writes it (not an earlier poison)."""
    try:
        doc = json.loads(record[1] or b"")
    except ValueError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("parts"), dict)


def _manifest(records: list[Record], prefix: str) -> Record:
    """The latest manifest the detector wrote (an earlier burst's may be the latest record
    of the key: seed 846's first run cut a list), or one a first checkpoint would write
    when none is there."""
    want = f"{prefix}/m".encode()
    return _latest([r for r in records if r[0] != want or _readable(r)], prefix, "m") or (
        f"{prefix}/m".encode(),
        json.dumps({"layout": 1, "epoch": "0" * 16, "checkpoint": 1, "next_offset": 0,
                    "customers": 0, "parts": {}}).encode(),
        [("ck", b"1"), ("ep", b"0" * 16)])


def _manifest_cut(records: list[Record], prefix: str) -> Record:
    return _cut(_manifest(records, prefix))


def _manifest_not_object(records: list[Record], prefix: str) -> Record:
    key, _, headers = _manifest(records, prefix)
    return key, b"[1]", headers


def _manifest_without_parts(records: list[Record], prefix: str) -> Record:
    key, value, headers = _manifest(records, prefix)
    doc = json.loads(value or b"{}")
    doc.pop("parts", None)
    return key, json.dumps(doc).encode(), headers


def _customer_cut(records: list[Record], prefix: str) -> Record:
    return _cut(_latest(records, prefix, "c/") or _manifest(records, prefix))


def _part_cut(records: list[Record], prefix: str) -> Record:
    return _cut(_latest(records, prefix, "p/") or _manifest(records, prefix))


def _header_not_number(records: list[Record], prefix: str) -> Record:
    key, value, headers = _latest(records, prefix, "c/") or _manifest(records, prefix)
    return key, value, [(k, b"x" if k == "ck" else v) for k, v in headers]


def _legacy_not_json(records: list[Record], prefix: str) -> Record:
    return prefix.encode(), b"{", []


#: Each shape: the state partition's records and a partition's prefix -> one poison record.
SHAPES: dict[str, Callable[[list[Record], str], Record]] = {
    "manifest_cut": _manifest_cut,
    "manifest_not_object": _manifest_not_object,
    "manifest_without_parts": _manifest_without_parts,
    "customer_cut": _customer_cut,
    "part_cut": _part_cut,
    "header_not_number": _header_not_number,
    "legacy_not_json": _legacy_not_json,
}


@dataclass
class StateWriter:
    """Reads a state partition's records (`read`) and writes records to it (`write`);
    `prefix` names input partition p's keys; keeps what it wrote."""

    partitions: int
    read: Callable[[int], list[Record]]
    write: Callable[[int, list[Record]], None]
    prefix: Callable[[int], str]
    sent: list[dict[str, Any]] = field(default_factory=list)

    def holds(self) -> bool:
        """Whether any state partition holds a record yet."""
        return any(self.read(p) for p in range(self.partitions))

    def burst(self, rng: random.Random) -> list[str | None]:
        """One poison record on each state partition that holds a record (none yet: no
        checkpoint to poison, maybe no topic); the shapes, by partition (None: skipped)."""
        shapes: list[str | None] = []
        for p in range(self.partitions):
            shape = rng.choice(sorted(SHAPES))
            records = self.read(p)
            if not records:
                shapes.append(None)
                continue
            record = SHAPES[shape](records, self.prefix(p))
            self.write(p, [record])
            self.sent.append({"partition": p, "shape": shape,
                              "key": record[0].decode(errors="replace")})
            shapes.append(shape)
        return shapes


def poison_state(chaos: Chaos, rng: random.Random) -> None:
    """One poison record on each state partition; 3 times in 4 a live detector killed -9
    0-1.5 s later and restarted (its partitions restored over the poison)."""
    writer = chaos.state_writer
    if writer is None:
        chaos.note("poison_state", skipped="no state writer")
        return
    deadline = time.monotonic() + STATE_WAIT_S
    while not writer.holds() and time.monotonic() < deadline:
        chaos.idle(2.0)  # seed 842's second run: drawn 37 s in, before any checkpoint
    shapes = writer.burst(rng)
    killed = None
    if rng.random() < KILL_SHARE and (live := chaos.live()):
        time.sleep(rng.uniform(0.0, KILL_WITHIN_S))
        killed = rng.choice(live)
        chaos.detectors[killed].kill()
        chaos.start_detector(killed)
    chaos.note("poison_state", shapes=shapes, killed=killed)


def reconfigure_detector(chaos: Chaos, rng: random.Random) -> None:
    """Kill -9 (or SIGTERM, exit 0 required) a live detector and start it again with one
    of `SETTINGS` changed to another of its values."""
    live = chaos.live()
    if not live:
        chaos.note("reconfigure_detector", skipped="no live detector")
        return
    name = rng.choice(live)
    old = chaos.detectors[name]
    setting = rng.choice(sorted(SETTINGS))
    was = old.env.get(setting, DEFAULTS.get(setting))
    value = rng.choice([v for v in SETTINGS[setting] if v != was])
    how = "kill" if rng.random() < 0.5 else "term"
    if how == "kill":
        old.kill()
        code = -signal.SIGKILL
    else:
        code = old.terminate(90)
        if code == -signal.SIGTERM and old.log_path.stat().st_size == 0:
            pass  # before its entry point (as `term_detector`): no handler yet
        elif code != 0:
            chaos.bad_exits.append(f"{old.log_path.name}: SIGTERM exit {code}")
    chaos.reconfigure(name, {setting: value})
    chaos.note("reconfigure_detector", name=name, how=how, code=code, setting=setting,
               was=was, now=value)


ACTIONS: dict[str, Callable[[Chaos, random.Random], None]] = {
    "poison_state": poison_state, "reconfigure_detector": reconfigure_detector}
