"""Zoned event times, a leap second and a name in two Unicode forms through the whole
pipeline (replay -> detector -> sink) land as `auditstream score --partitions 4` writes the
same file (hostile probe, 2026-12-06, fourteenth): every zone the world uses at its edges
(+14:00, -12:00, +05:45, -09:30, +00:00, Z, none), each time read as its UTC instant."""

from __future__ import annotations

import csv
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from shared.settings import KafkaSettings
from tests.integration.detector_harness import Topics
from tests.integration.pipeline_harness import (
    PIPELINE_CORE_ENV,
    base_env,
    diff_rows,
    freeze_sources,
    read_scored_csv,
    run_cli,
    stream_and_score,
)
from tests.integration.test_end_to_end import PARTITIONS

pytestmark = pytest.mark.integration

ZONES = ("+14:00", "-12:00", "+05:45", "-09:30", "+00:00", "Z", "")
NFC, NFD = unicodedata.normalize("NFC", "Zoë"), unicodedata.normalize("NFD", "Zoë")


def _zoned(utc: datetime, zone: str) -> str:
    if zone in ("", "Z"):
        return utc.isoformat() + zone
    sign = 1 if zone[0] == "+" else -1
    local = utc + sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return local.isoformat() + zone


def _rewrite(source: Path, target: Path) -> tuple[int, str]:
    """`source` with each time written in a zone in turn, two customers renamed to the NFC
    and NFD forms of one name, and a row at the leap second 2016-12-31T23:59:60Z; the row
    count and the leap row's transaction id."""
    with source.open(newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    ts, cid, tid = (header.index(c) for c in ("timestamp", "customer_id", "transaction_id"))
    a, b = sorted({r[cid] for r in rows})[:2]
    leap = list(next(r for r in rows if r[cid] == a))
    leap[tid], leap[ts] = "leap-second", "2016-12-31T23:59:60Z"
    out = []
    for i, row in enumerate(rows):
        row[cid] = {a: NFC, b: NFD}.get(row[cid], row[cid])
        row[ts] = _zoned(datetime.fromisoformat(row[ts]), ZONES[i % len(ZONES)])
        out.append(row)
    leap[cid] = NFC
    out.append(leap)  # out of order: replay and score sort the file alike
    with target.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *out])
    return len(out), leap[tid]


def test_zoned_times_a_leap_second_and_two_forms_of_a_name_land_as_score_writes_them(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    topics = Topics(topic_name, PARTITIONS).create(kafka)
    env = base_env(kafka, topics, PIPELINE_CORE_ENV, freeze_sources(tmp_path / "src"))
    plain, source = tmp_path / "plain.csv", tmp_path / "zoned.csv"
    run_cli(["generate", "--seed", "14", "--customers", "40", "--days", "14", "--start",
             "2016-12-24", "--out", str(plain)], env)
    n, leap_id = _rewrite(plain, source)

    streamed_dir, offline_dir = stream_and_score(source, env, kafka, topics, n, tmp_path)
    streamed, offline = read_scored_csv(streamed_dir), read_scored_csv(offline_dir)
    diff = diff_rows(streamed, offline)
    assert len(offline) == n and diff.clean, diff
    leap = streamed[streamed["transaction_id"] == leap_id]
    assert list(leap["timestamp"].astype(str).str[:26]) == ["2016-12-31T23:59:59.999999"]
    assert {NFC, NFD} <= set(streamed["customer_id"])
    # each zoned time is its UTC instant: the plain file's times, as written there
    with plain.open(newline="", encoding="utf-8") as fh:
        utc = {r["transaction_id"]: datetime.fromisoformat(r["timestamp"])
               for r in csv.DictReader(fh)}
    got = dict(zip(streamed["transaction_id"], streamed["timestamp"].astype(str), strict=True))
    assert {t: datetime.fromisoformat(got[t]) for t in utc} == utc
