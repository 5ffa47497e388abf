"""The assurance loop end to end on the real broker, without labels in the exports.

generate (labelled) -> labels dropped -> replay -> detector -> sink (running); the simulated
reviewer answers from the generator's labels: a seeded random half of the cases (filled
into an .xlsx copy of cases.csv, the Excel path) and the whole audit sample (a CSV copy of
audit_sample.csv); both go through `auditstream review import`. After the sink's next
refresh, the reviewed precision, the miss rate and the implied recall it computed must each
hold the true value, computed here from the generator's labels, within its 95% interval.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from auditstream.review.simulate import Reviewer, labels_from_csv, simulate
from shared.reviews import now_utc
from shared.settings import KafkaSettings
from tests.integration.detector_harness import Topics
from tests.integration.pipeline_harness import (
    PIPELINE_CORE_ENV,
    base_env,
    detector,
    freeze_sources,
    generate_csv,
    replay,
    run_cli,
    sink,
    wait_until,
)
from tests.scored_days import read_scored

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 2


def _run_json(folder: Path) -> dict[str, object]:
    try:
        data = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _assurance(folder: Path) -> dict[str, object]:
    got = _run_json(folder).get("assurance")
    return got if isinstance(got, dict) else {}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _fill_xlsx(cases: Path, outcomes: Mapping[str, str], out: Path) -> Path:
    """cases.csv as an auditor's workbook: every column, `outcome` filled where reviewed."""
    rows = _rows(cases)
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    header = list(rows[0])
    ws.append(header)
    for row in rows:
        row["outcome"] = outcomes.get(row["case_id"], "")
        # Text cells as text: a reason starting with "=" must not become a formula.
        ws.append([row[h] for h in header])
        for cell in ws[ws.max_row]:
            cell.data_type = "s"
    book.save(out)
    return out


def _fill_csv(sample: Path, outcomes: Mapping[str, str], out: Path) -> Path:
    rows = _rows(sample)
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for row in rows:
            w.writerow({**row, "outcome": outcomes.get(row["transaction_id"], "")})
    return out


def _within(row: pd.Series, truth: float) -> bool:
    return float(row["precision_low"]) <= truth <= float(row["precision_high"])


@pytest.mark.parametrize("seed", [5, 17, 2026])
def test_reviewed_precision_and_implied_recall_hold_the_truth_without_labels(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path, seed: int,
) -> None:
    topics = Topics(topic_name, PARTITIONS).create(kafka)
    env = {**base_env(kafka, topics, PIPELINE_CORE_ENV, freeze_sources(tmp_path / "src")),
           "AUDITSTREAM_REVIEWS_TOPIC": f"{topic_name}-reviews",
           # Every case listed, so the reviewed half is a random half of ALL cases.
           "EXPORTS_TOP_CASES": "100000", "SINK_ROLLUP_INTERVAL_S": "1"}
    labelled = tmp_path / "generated.csv"
    n = generate_csv(labelled, env, seed=seed, customers=120, days=30)
    source = tmp_path / "unlabelled.csv"
    pd.read_csv(labelled, dtype=str, keep_default_na=False).drop(
        columns=["is_anomaly", "anomaly_type"]).to_csv(source, index=False)
    exports = tmp_path / "exports"
    services = [sink(env, exports, tmp_path).start(), detector("a", env, tmp_path).start()]

    def alive() -> None:
        for s in services:
            assert s.alive(), s.logs()[-3000:]

    try:
        assert replay(source, env, tmp_path).start().wait(120) == 0
        wait_until(lambda: _run_json(exports).get("rows") == n, 240, "all rows rolled up",
                   alive)
        assert _run_json(exports)["rows_unlabelled"] == n  # the exports carry no labels
        labels = labels_from_csv(labelled)
        cases = simulate(exports, labels, Reviewer(accuracy=1.0, seed=seed, fraction=0.5),
                         now_utc())
        sample = simulate(exports, labels, Reviewer(accuracy=1.0, seed=seed), now_utc())
        case_out = {r.id: r.outcome for r in cases if r.target == "case"}
        sample_out = {r.id: r.outcome for r in sample if r.target == "transaction"}
        assert len(case_out) >= 20 and len(sample_out) >= 200
        book = _fill_xlsx(exports / "cases.csv", case_out, tmp_path / "cases.xlsx")
        audit = _fill_csv(exports / "audit_sample.csv", sample_out, tmp_path / "audit.csv")
        for f in (book, audit):
            out = run_cli(["review", "import", str(f), "--exports", str(exports)], env)
            assert "0 rejected" in out, out
        total = len(case_out) + len(sample_out)
        wait_until(lambda: _assurance(exports).get("reviews_read") == total, 120,
                   "reviews counted", alive)
    finally:
        codes = [s.terminate() for s in services]
    assert codes == [0, 0], [s.logs()[-2000:] for s in services]

    summary = _assurance(exports)
    assert summary["reviewed_cases"] == len(case_out)
    assert summary["cases_total"] == len(_rows(exports / "cases.csv"))  # all listed
    table = pd.read_csv(exports / "assurance.csv", dtype=str, keep_default_na=False)
    row = {(r["section"], r["name"]): r for _, r in table.iterrows() if not r["threshold"]}

    # Truth from the generator's labels, computed here from scratch.
    members: dict[str, list[str]] = {}
    for r in _rows(exports / "case_transactions.csv"):
        members.setdefault(r["case_id"], []).append(r["transaction_id"])
    true_cases = {c: any(labels[t] for t in txs) for c, txs in members.items()}
    true_precision = sum(true_cases.values()) / len(true_cases)
    scored = read_scored(exports)  # the day files (the single file is opt-in)
    flagged = scored["is_flag"].eq("True")
    anomalous = scored["transaction_id"].map(labels).astype(bool)
    true_miss = (anomalous & ~flagged).sum() / (~flagged).sum()
    true_recall = (anomalous & flagged).sum() / anomalous.sum()

    hybrid = row[("mode", "hybrid")]
    confirmed = sum(o == "confirmed" for o in case_out.values())
    assert (int(hybrid["reviewed"]), int(hybrid["confirmed"])) == (len(case_out), confirmed)
    assert float(hybrid["precision"]) == pytest.approx(confirmed / len(case_out))
    print(f"\nseed {seed}: {n} rows, {len(true_cases)} cases ({len(case_out)} reviewed), "
          f"{len(sample_out)} sampled rows reviewed; precision {hybrid['precision']} "
          f"[{hybrid['precision_low']}, {hybrid['precision_high']}] truth {true_precision:.4f}; "
          f"miss rate {row[('miss_rate', 'audit_sample')]['precision']} truth {true_miss:.5f}; "
          f"recall {row[('recall', 'implied')]['precision']} "
          f"[{row[('recall', 'implied')]['precision_low']}, "
          f"{row[('recall', 'implied')]['precision_high']}] truth {true_recall:.4f}")
    assert _within(hybrid, true_precision)
    assert _within(row[("miss_rate", "audit_sample")], true_miss)
    assert _within(row[("recall", "implied")], true_recall)
