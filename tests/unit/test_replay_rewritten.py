"""replay of a CSV rewritten in place while it is read (probe of 2026-12-06): an editor or
an export job writing over the file (the same inode, the descriptor replay holds) between
replay's order check and its sending. The check found the rows in time order, so they were
streamed as read: the new content's rows went out in the file's order, not in time order,
with no word. A file changed since the order check is sorted before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from producer.app import PublishReport, Record
from producer.replay import run_replay
from producer.settings import ProducerSettings
from producer.sources import streamable_rows

HEADER = "transaction_id,customer_id,timestamp,amount,country,channel,device,merchant_category,ip"


def _rows(seconds: Iterable[tuple[str, int]]) -> str:
    return "\n".join([HEADER, *(f"{t},c1,2025-01-01 10:00:{s:02d},12.5,NL,web,d1,grocery,"
                                "1.2.3.4" for t, s in seconds)]) + "\n"


@pytest.mark.parametrize("change", ["rewritten", "appended"])
def test_a_file_rewritten_after_its_order_check_is_sent_in_time_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    f = tmp_path / "in.csv"
    f.write_text(_rows([("T1", 1), ("T2", 2), ("T3", 3)]), "utf-8")
    sent: list[str] = []

    def publish(records: Iterable[Record], _settings: Any, total: int,
                *_: Any) -> PublishReport:
        sent.extend(json.loads(value)["transaction_id"] for _, _, value in records)
        return PublishReport(total, sent=len(sent), delivered=len(sent))

    def checked_then_changed(inputs: Any) -> int | None:
        total = streamable_rows(inputs)
        if change == "rewritten":  # in place: the descriptor replay holds reads it
            with open(f, "r+b") as out:
                out.write(_rows([("T7", 9), ("T8", 5), ("T9", 7)]).encode())
        else:
            with open(f, "ab") as out:
                out.write(_rows([("T0", 0)]).split("\n", 1)[1].encode())
        return total

    monkeypatch.setattr("producer.replay.publish", publish)
    monkeypatch.setattr("producer.replay.streamable_rows", checked_then_changed)
    summary = run_replay([f], ProducerSettings())
    want = ["T8", "T9", "T7"] if change == "rewritten" else ["T0", "T1", "T2", "T3"]
    assert sent == want
    assert (summary.rows, summary.rejected) == (len(want), 0)
