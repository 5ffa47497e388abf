"""Write an exports folder with an older release's sink (tests/unit/test_sink_upgrade.py).

Run with the older tree first on the path, e.g. for commit ec3e9ff:

    git worktree add /tmp/upg-ec3e9ff ec3e9ff
    PYTHONPATH=/tmp/upg-ec3e9ff python tests/data/sink/make_fixture.py tests/data/sink/ec3e9ff

It builds a fixed stream of 320 scored messages (4 event days, 20 customers, flagged rows,
rule flags, two late rows, one in each half) with that tree's own `ScoredTransaction`,
gives the first half to that tree's `SinkWriter` in two sessions (a restart between them),
with review messages where the tree reads reviews, and keeps what a sink needs to go on
(`.sink-state.json`, the appended files) and what it exported but the two large tables
(thresholds.csv, assurance.csv: rewritten from the state at every refresh).
`stream.jsonl.gz` holds every message of both halves (`half` 1 or 2; `topic` scored or
reviews), as the tree encoded them; rows are given in batches of `BATCH`, as a consumer
would. Only the standard library and the tree's own modules are used, so any release runs
it. `settings.json` holds the export settings used (those of `SETTINGS` the tree knew).
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.codec import encode
from shared.schemas import ScoredTransaction
from sink.settings import ExportSettings
from sink.writer import SinkWriter

TOPIC = "transactions.scored"
REVIEWS = "transactions.reviews"
ROWS = 320
HALF = ROWS // 2
BATCH = 20
#: Export settings every run of the fixture uses (those a release knows).
SETTINGS: dict[str, Any] = {"sample_per_band": 3}
#: What the fixture keeps of the folder: the sink's state, its appended files, its outputs.
KEEP = (".sink-state.json", "reviews_log.csv", "sink_rejected.jsonl", "cases.csv",
        "case_transactions.csv", "audit_sample.csv", "metrics_by_type.csv",
        "confusion_matrix.csv", "run.json", "status.csv", "transactions_scored.csv")
RULES = ("amount_spike", "new_country", "night_burst")
TYPES = ("amount_spike", "geo_jump", "card_testing")


def stream() -> list[dict[str, Any]]:
    """The scored rows' fields (every field any release had), in stream order."""
    rng = random.Random(7)
    t0 = datetime(2025, 3, 1)
    rows = []
    for i in range(ROWS):
        ts = t0 + timedelta(minutes=18 * i, microseconds=rng.choice((0, 0, 0, 500_000)))
        if i == 120:  # day 2, 12:00: a row of day 1, closed an hour after its end
            ts = datetime(2025, 3, 1, 5, 0, 0)
        if i == 250:  # day 4: another row of day 1
            ts = datetime(2025, 3, 1, 10, 30, 0, 250_000)
        customer = f"c{rng.randrange(20):02d}"
        if i % 40 in (10, 11, 12):  # a burst: one customer's flagged rows within 2 h
            customer = "c07"
        model = None if i < 5 else round(rng.random(), 4)
        if i % 40 in (10, 11, 12) or rng.random() < 0.06:
            model = round(rng.uniform(0.8, 0.99), 4)
        flags = {name: rng.random() < 0.05 for name in RULES}
        fired = [name for name, hit in flags.items() if hit]
        anomalous = (i % 40 in (10, 11)) or rng.random() < 0.05
        label = None if rng.random() < 0.05 else anomalous
        ml = model is not None and model >= 0.8
        score = None if model is None else round(min(1.0, model * 0.9 + 0.3 * len(fired)), 4)
        rows.append({
            "transaction_id": f"t{i:04d}", "customer_id": customer, "timestamp": ts,
            "amount": round(rng.choice((rng.uniform(1, 80), rng.uniform(80, 900),
                                        rng.uniform(900, 6000))), 2),
            "country": rng.choice(("CH", "FR", "DE")), "channel": rng.choice(("app", "web")),
            "device": "pc", "merchant_category": rng.choice(("grocery", "travel", "games")),
            "ip": "10.0.0.1", "is_anomaly": label,
            "anomaly_type": (rng.choice(TYPES) if anomalous else "normal")
            if label is not None else None,
            "score": score, "model_score": model, "is_ml_flag": ml, "rule_flags": flags,
            "is_rule_flag": bool(fired), "is_flag": ml or bool(fired),
            "reasons_top3": [f"{name} fired" for name in fired], "triggered_rules": fired,
            "model_version": "m1" if i < 200 else "m2",
            "source_partition": i % 3, "source_offset": i // 3,
        })
    return rows


def messages() -> list[tuple[int, int, bytes]]:
    """The stream as this tree encodes it: (partition, offset, value), two partitions."""
    known = ScoredTransaction.model_fields
    out = []
    for i, fields in enumerate(stream()):
        tx = ScoredTransaction(**{k: v for k, v in fields.items() if k in known})
        out.append((i % 2, i // 2, encode(tx)))
    return out


def review(target: str, id_: str, outcome: str, minute: int) -> bytes:
    from shared.reviews import Review, encode_review
    at = datetime(2025, 3, 6, 9, minute, tzinfo=UTC)
    return bytes(encode_review(Review(target=target, id=id_, outcome=outcome,
                                      reviewer="ann", reviewed_at=at, note=""))[1])


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def main(out: Path) -> None:
    known = ExportSettings.model_fields
    used = {k: v for k, v in SETTINGS.items() if k in known}
    settings = ExportSettings(**used)
    records = messages()
    lines: list[dict[str, Any]] = [
        {"topic": "scored", "half": 1 + (n >= HALF), "partition": p, "offset": o,
         "value": v.decode()} for n, (p, o, v) in enumerate(records)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "exports"
        for part in (records[: HALF // 2], records[HALF // 2 : HALF]):  # a restart between
            w = SinkWriter(folder, TOPIC, settings)
            for start in range(0, len(part), BATCH):
                w.add(part[start : start + BATCH])
            w.checkpoint()
            w.write_rollups(report=False)
            w.close()
        if hasattr(SinkWriter, "add_reviews"):
            cases = _read(folder / "cases.csv")
            links = _read(folder / "case_transactions.csv")
            sample = _read(folder / "audit_sample.csv")
            c = [row["case_id"] for row in cases]
            in_case = next(r["transaction_id"] for r in links if r["case_id"] not in c[:2])
            second_flagged = next(f["transaction_id"] for f in stream()[HALF:]
                                  if f["is_flag"] and f["customer_id"] != "c07")
            first = [("case", c[0], "confirmed", 1), ("case", c[1], "dismissed", 2),
                     ("transaction", sample[0]["transaction_id"], "dismissed", 3),
                     ("transaction", in_case, "confirmed", 4)]
            second = [("case", c[1], "confirmed", 5),
                      ("transaction", sample[1]["transaction_id"], "confirmed", 6),
                      ("transaction", second_flagged, "dismissed", 7)]
            for half, reviews in ((1, first), (2, second)):
                for n, args in enumerate(reviews):
                    lines.append({"topic": "reviews", "half": half, "partition": 0,
                                  "offset": n + (half == 2) * len(first),
                                  "value": review(*args).decode()})
            w = SinkWriter(folder, TOPIC, settings)
            w.add_reviews([(r["partition"], r["offset"], r["value"].encode())
                           for r in lines if r["topic"] == "reviews" and r["half"] == 1],
                          REVIEWS)
            w.checkpoint()
            w.write_rollups(report=False)
            w.checkpoint()  # as a running sink's next one: the reviewed cases' facts noted
            w.close()
        if out.exists():
            shutil.rmtree(out)
        (out / "exports").mkdir(parents=True)
        for name in KEEP:
            if (folder / name).exists():
                shutil.copy2(folder / name, out / "exports" / name)
        if (folder / "scored").is_dir():
            shutil.copytree(folder / "scored", out / "exports" / "scored")
    with open(out / "settings.json", "w", encoding="utf-8") as fh:  # the settings it knew
        json.dump(used, fh, sort_keys=True)
    text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)
    with open(out / "stream.jsonl.gz", "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:  # the same bytes each run
        fh.write(text.encode())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
