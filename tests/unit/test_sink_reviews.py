"""Review outcomes in the sink without a broker: last wins, every change logged once,
joined into cases.csv, audit_sample.csv and assurance.csv, and kept across a crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from shared.reviews import Review, encode_review
from shared.schemas import CONTROL_CHARACTERS, CONTROL_RULE
from sink.assurance import wilson
from sink.settings import ExportSettings
from sink.writer import REJECTED_FILE, REVIEWS_LOG_FILE, Record, SinkWriter
from tests.unit.test_sink_writer import TOPIC, _records

REVIEWS = "transactions.reviews"


def _review(target: str, id_: str, outcome: str, minute: int, note: str = "") -> bytes:
    at = datetime(2025, 2, 1, 9, minute, tzinfo=UTC)
    return encode_review(Review(target=target, id=id_, outcome=outcome,
                                reviewer="ann", reviewed_at=at, note=note))[1]


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False)


def _writer(folder: Path) -> SinkWriter:
    return SinkWriter(folder, TOPIC, ExportSettings(sample_per_band=3))


def _plan(folder: Path) -> tuple[list[Record], dict[str, str], dict[str, str]]:
    """Rows in, then the review messages this test sends, and the outcomes they leave."""
    w = _writer(folder)
    w.add(_records(1_500))
    w.checkpoint()
    w.write_rollups()
    w.close()
    cases = _read(folder, "cases.csv")
    sample = _read(folder, "audit_sample.csv")
    links = _read(folder, "case_transactions.csv")
    c = list(cases["case_id"][:4])
    unreviewed = links[~links["case_id"].isin(c)]
    tx_case, tx_in_case = unreviewed["case_id"].iloc[0], unreviewed["transaction_id"].iloc[0]
    s = list(sample["transaction_id"][:3])
    messages = [
        _review("case", c[0], "confirmed", 1), _review("case", c[1], "confirmed", 2),
        _review("case", c[2], "dismissed", 3), _review("case", c[1], "dismissed", 4, "=1+1"),
        _review("case", c[3], "unclear", 5),
        _review("transaction", s[0], "confirmed", 6), _review("transaction", s[1], "dismissed", 7),
        _review("transaction", s[2], "dismissed", 8),
        _review("transaction", tx_in_case, "confirmed", 9),
        b'{"target": "case", "id": "x", "outcome": "maybe"}',
    ]
    records: list[Record] = [(0, i, m) for i, m in enumerate(messages)]
    cases_want: dict[str, str] = {c[0]: "confirmed", c[1]: "dismissed", c[2]: "dismissed",
                                  c[3]: "unclear", tx_case: "confirmed"}
    sample_want: dict[str, str] = {s[0]: "confirmed", s[1]: "dismissed", s[2]: "dismissed"}
    return records, cases_want, sample_want


def test_reviews_join_the_exports_last_outcome_wins_and_every_change_is_logged(
    tmp_path: Path,
) -> None:
    records, cases_want, sample_want = _plan(tmp_path)
    w = _writer(tmp_path)
    assert w.add_reviews(records, REVIEWS) == 9
    assert w.add_reviews(records[:4], REVIEWS) == 0  # redelivered: nothing twice
    w.checkpoint()
    run = w.write_rollups()
    w.close()
    cases = _read(tmp_path, "cases.csv").set_index("case_id")
    for cid, outcome in cases_want.items():
        assert cases.loc[cid, "outcome"] == outcome
    # A case reviewed through one of its transactions shows that review (it used to stay
    # open in cases.csv: the backlog counted a case the assurance counted reviewed).
    assert cases["outcome"].ne("").sum() == 5 == run["assurance"]["reviewed_cases"]
    tx_case = list(cases_want)[4]
    assert cases.loc[tx_case, "reviewed_at"] != "" and cases.loc[tx_case, "reviewer"] != ""
    assert cases.loc[list(cases_want)[1], "note"] == "'=1+1"  # neutralised for Excel
    sample = _read(tmp_path, "audit_sample.csv").set_index("transaction_id")
    for txid, outcome in sample_want.items():
        assert sample.loc[txid, "outcome"] == outcome
    log = _read(tmp_path, REVIEWS_LOG_FILE)
    assert list(log["offset"]) == [str(i) for i in range(9)]
    assert list(log["outcome"][:4]) == ["confirmed", "confirmed", "dismissed", "dismissed"]
    assert set(log["matched"]) == {"case", "audit_sample", "case_transaction"}
    rejected = [json.loads(line) for line in (tmp_path / REJECTED_FILE).read_text().splitlines()]
    assert [r["offset"] for r in rejected] == [9] and REVIEWS in rejected[0]["error"]

    # hybrid = every case: confirmed c0 and the case of the reviewed transaction, dismissed
    # c1 and c2, unclear c3
    a = _read(tmp_path, "assurance.csv").set_index(["section", "name"])
    hybrid = a.loc[("mode", "hybrid")]
    assert (hybrid["reviewed"], hybrid["confirmed"], hybrid["dismissed"], hybrid["unclear"]) \
        == ("5", "2", "2", "1")
    p, lo, hi = wilson(2, 4)  # type: ignore[misc]
    assert [float(hybrid[c]) for c in ("precision", "precision_low", "precision_high")] == \
        [p, lo, hi]
    miss = a.loc[("miss_rate", "audit_sample")]
    assert (miss["reviewed"], miss["confirmed"], miss["dismissed"]) == ("3", "1", "2")
    assert 0 < float(miss["precision"]) < 1 and float(miss["precision_high"]) < 1
    assert run["assurance"]["reviewed_cases"] == 5
    assert run["assurance"]["reviewed_precision"]["estimate"] == p
    assert a.loc[("recall", "implied"), "precision"] != ""

    # per threshold: the reviewed cases whose score reaches t, counted from cases.csv
    th = a.loc[("threshold", "combined")].set_index("threshold")
    scores = pd.to_numeric(cases["score"].replace("", "-1"))
    decided = {cid: o for cid, o in cases["outcome"].items() if o}
    for t in ("0.00", "0.50", "0.90", "0.97", "1.00"):
        hit = {cid: o for cid, o in decided.items() if scores[cid] >= float(t)}
        row = th.loc[t]
        assert (row["reviewed"], row["confirmed"], row["dismissed"]) == (
            str(len(hit)), str(sum(o == "confirmed" for o in hit.values())),
            str(sum(o == "dismissed" for o in hit.values()))), t


def test_reviews_after_the_last_checkpoint_are_read_again_once_after_a_crash(
    tmp_path: Path,
) -> None:
    records, _c, _s = _plan(tmp_path / "a")
    _plan(tmp_path / "b")
    crashed = _writer(tmp_path / "a")
    crashed.add_reviews(records[:5], REVIEWS)
    crashed.checkpoint()
    crashed.add_reviews(records[5:], REVIEWS)  # never checkpointed: the process dies
    crashed._reviews_log.flush()
    del crashed
    again = _writer(tmp_path / "a")
    assert again.review_offsets == {0: 5}
    again.add_reviews(records[5:], REVIEWS)
    again.checkpoint()
    again.write_rollups()
    again.close()
    calm = _writer(tmp_path / "b")
    calm.add_reviews(records, REVIEWS)
    calm.checkpoint()
    calm.write_rollups()
    calm.close()
    for name in ("cases.csv", "audit_sample.csv", "assurance.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    drop = ["logged_at"]
    pd.testing.assert_frame_equal(_read(tmp_path / "a", REVIEWS_LOG_FILE).drop(columns=drop),
                                  _read(tmp_path / "b", REVIEWS_LOG_FILE).drop(columns=drop))


def test_a_review_message_with_a_refused_character_is_rejected_on_one_escaped_line(
    tmp_path: Path,
) -> None:
    """Such a message (published before reviews were checked, or by another client) is
    rejected with its reason; sink_rejected.jsonl keeps it on one line, the characters
    escaped, and reviews_log.csv never holds them."""
    records, _, _ = _plan(tmp_path)
    good = json.loads(records[0][2] or b"")
    bad = [json.dumps({**good, "note": note}, ensure_ascii=False).encode()
           for note in ("a\u2028b", "c\x85d", "gpj.\u202eexe", "x\u2066y\u2069")]
    w = _writer(tmp_path)
    assert w.add_reviews([(0, i, m) for i, m in enumerate([records[0][2], *bad])],
                         REVIEWS) == 1
    w.checkpoint()
    w.close()
    raw = (tmp_path / REJECTED_FILE).read_text(encoding="utf-8")
    lines = raw.splitlines()  # splits at U+2028 and U+0085 too: none is left raw
    assert len(lines) == 4 and raw.endswith("\n")
    rejected = [json.loads(line) for line in lines]
    assert [r["offset"] for r in rejected] == [1, 2, 3, 4]
    assert all(f"note: {CONTROL_RULE}" in r["error"] for r in rejected)
    assert [json.loads(r["value"])["note"] for r in rejected] == [
        "a\u2028b", "c\x85d", "gpj.\u202eexe", "x\u2066y\u2069"]  # the value as sent
    assert "\\u2028" in raw and "\\u0085" in raw and "\\u202e" in raw
    log = (tmp_path / REVIEWS_LOG_FILE).read_text(encoding="utf-8")
    assert not CONTROL_CHARACTERS.search(log.replace("\n", ""))
    assert len(_read(tmp_path, REVIEWS_LOG_FILE)) == 1


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_review_whose_time_leaves_the_calendar_in_utc_is_rejected_not_a_sink_crash(
    tmp_path: Path, at: str,
) -> None:
    """Converting such a time to UTC raised OverflowError, which is no SchemaError: the sink
    died on the message, and again on it after every restart (the topic is compacted, the
    message kept for ever). A hostile probe."""
    records, _, _ = _plan(tmp_path)
    good = json.loads(records[0][2] or b"")
    bad = json.dumps({**good, "reviewed_at": at}).encode()
    w = _writer(tmp_path)
    assert w.add_reviews([(0, 0, bad), (0, 1, records[0][2])], REVIEWS) == 1
    w.checkpoint()
    w.close()
    rejected = [json.loads(line) for line in
                (tmp_path / REJECTED_FILE).read_text(encoding="utf-8").splitlines()]
    assert [r["offset"] for r in rejected] == [0] and "reviewed_at" in rejected[0]["error"]
    assert len(_read(tmp_path, REVIEWS_LOG_FILE)) == 1


def test_a_review_of_a_case_the_sink_no_longer_holds_is_counted_as_unmatched(
    tmp_path: Path,
) -> None:
    """Cases that are neither top, recent nor their customer's latest leave the book
    (`sink.cases`). A review read while its case is held counts, even if the case leaves
    before the next export (it counted nowhere, its log line saying `case`); one read after
    the case left cannot be grouped: its `matched` is empty and run.json counts it in
    `reviews_unmatched` (it was in no figure at all)."""
    from shared.codec import encode
    from tests.unit.test_sink_cases import H, _tx

    offsets = iter(range(10_000))
    w = SinkWriter(tmp_path, TOPIC, ExportSettings(top_cases=1, case_days=1.0))
    # Day 0: ten customers' cases (c0's is the top case, kept for good).
    w.add([(0, next(offsets), encode(_tx(f"c{c}-0", f"c{c}", 0 * H,
                                         score=0.99 if c == 0 else 0.5))) for c in range(10)])
    w.checkpoint()
    w.write_rollups(report=False)
    cases = _read(tmp_path, "cases.csv").set_index("customer_id")["case_id"]
    early, late = cases["c1"], cases["c2"]
    assert w.add_reviews([(0, 0, _review("case", early, "confirmed", 1))], REVIEWS) == 1
    # Day 10: every customer's new case, and enough others that the book is pruned.
    w.add([(0, next(offsets), encode(_tx(f"{who}-10", who, 240 * H, score=0.9)))
           for who in [f"c{c}" for c in range(10)] + [f"d{d}" for d in range(300)]])
    book = w.cp.rollup.cases
    assert early not in book.cases and late not in book.cases and cases["c0"] in book.cases
    assert w.add_reviews([(0, 1, _review("case", late, "dismissed", 2))], REVIEWS) == 1
    w.checkpoint()
    run = w.write_rollups(report=False)
    w.close()
    assert list(_read(tmp_path, REVIEWS_LOG_FILE)["matched"]) == ["case", ""]
    summary = run["assurance"]
    assert (summary["reviews_current"], summary["reviewed_cases"],
            summary["reviews_unmatched"]) == (2, 1, 1)
    hybrid = _read(tmp_path, "assurance.csv").set_index(["section", "name"]).loc[
        ("mode", "hybrid")]
    assert (hybrid["reviewed"], hybrid["confirmed"], hybrid["dismissed"]) == ("1", "1", "0")
