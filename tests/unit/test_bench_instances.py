"""bench/instances_bench.py's accounting: the ABBA order, CPU read from /proc, the steady
window (from the last instance's final assignment to the last committed record) and the
row-by-row comparison with the one-instance run by (source partition, offset)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import instances_bench as ib
from instances_bench import Instance, Sample, abba, compare, index_rows, window


def test_abba_runs_the_counts_then_backwards() -> None:
    assert abba([1, 2]) == [1, 2, 2, 1]
    assert abba([1, 2, 4]) == [1, 2, 4, 4, 2, 1]


def test_proc_cpu_counts_user_and_system_after_the_name() -> None:
    # a process name with a space and a ')' must not shift the fields
    rest = " ".join(["S", *(["0"] * 10), "250", "150", *(["0"] * 30)])
    stat = f"1234 (py thon) x) {rest}"
    assert ib.proc_cpu_s(stat) == pytest.approx(400 / ib.CLOCK_TICKS)


def test_machine_busy_is_every_field_but_idle_and_iowait() -> None:
    stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
    assert ib.machine_busy_s(stat) == pytest.approx((100 + 5 + 50 + 3 + 2 + 1)
                                                    / ib.CLOCK_TICKS)


def sample(t: float, committed: int, cpu: float = 0.0) -> Sample:
    return Sample(t, committed, cpu, cpu / 10, cpu * 2)


def test_the_window_runs_from_the_first_sample_at_the_start_to_the_first_complete() -> None:
    samples = [sample(0.0, 0), sample(1.0, 100, 1.0), sample(2.0, 300, 3.0),
               sample(3.0, 1000, 8.0), sample(4.0, 1000, 9.0)]
    got = window(samples, start=1.0, total=1000)  # a sample exactly at the start counts
    assert got is not None
    assert (got.records, got.seconds) == (900, 2.0)
    assert (got.detectors_cpu, got.broker_cpu, got.machine_cpu) == pytest.approx((7, 0.7, 14))
    assert got.rate == 450
    assert got.us_per_record(got.detectors_cpu) == pytest.approx(7 / 900 * 1e6)
    later = window(samples, start=1.001, total=1000)  # just after: the next sample
    assert later is not None and (later.records, later.seconds) == (700, 1.0)


def test_no_window_when_everything_was_committed_before_the_start() -> None:
    samples = [sample(0.0, 0), sample(1.0, 999), sample(2.0, 1000), sample(3.0, 1000)]
    assert window(samples, start=1.0, total=1000) is not None  # 1 record left at the start
    assert window(samples, start=2.0, total=1000) is None  # none left
    assert window(samples, start=3.5, total=1000) is None  # no sample after the start
    assert window(samples[:2], start=0.0, total=1000) is None  # never complete


def scored(partition: int, offset: int, score: float = 0.5, out: int | None = None
           ) -> tuple[int, bytes]:
    value = json.dumps({"transaction_id": f"{partition}-{offset}", "score": score,
                        "source_partition": partition, "source_offset": offset}).encode()
    return (partition if out is None else out, value)


def test_equal_rows_in_another_order_are_equal() -> None:
    ref, twice = index_rows([scored(0, 0), scored(0, 1), scored(1, 0)])
    assert twice == []
    parity = compare(ref, [scored(1, 0), scored(0, 1), scored(0, 0)])
    assert parity.equal and parity.rows == 3
    assert str(parity) == "3 rows, equal"


def test_a_row_lost_and_one_twice_are_caught_though_the_count_is_the_same() -> None:
    ref, _ = index_rows([scored(0, 0), scored(0, 1), scored(1, 0)])
    parity = compare(ref, [scored(0, 0), scored(0, 0), scored(1, 0)])
    assert not parity.equal and parity.rows == 3
    assert parity.missing == [(0, 1)] and parity.twice == [(0, 0)]
    assert parity.extra == [] and parity.different == []


def test_different_content_or_scored_partition_at_the_same_source_is_caught() -> None:
    ref, _ = index_rows([scored(0, 0), scored(0, 1), scored(1, 0)])
    parity = compare(ref, [scored(0, 0, score=0.51), scored(0, 1, out=3), scored(1, 0),
                           scored(2, 0)])
    assert parity.different == [(0, 0), (0, 1)]
    assert parity.extra == [(2, 0)] and parity.missing == []
    assert "2 different" in str(parity)


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 50)), unique=True, min_size=1),
       st.data())
def test_any_one_row_dropped_is_missing(keys: list[tuple[int, int]], data: Any) -> None:
    rows = [scored(p, o) for p, o in keys]
    ref, _ = index_rows(rows)
    drop = data.draw(st.integers(0, len(rows) - 1))
    parity = compare(ref, rows[:drop] + rows[drop + 1:])
    assert parity.missing == [keys[drop]] and not parity.twice and not parity.different


def test_an_instance_took_its_partitions_when_a_new_line_appeared(tmp_path: Path) -> None:
    log = tmp_path / "i0.log"
    log.write_bytes(b"x detector b consuming t (group g; detection core kernel)\n")
    inst = Instance(SimpleNamespace(pid=1), log)  # type: ignore[arg-type]
    inst.look(1.0)
    assert inst.took_at is None
    log.write_bytes(log.read_bytes() + b"partition 0 restored (empty, replayed 0 records)\n"
                    b"partition 1 kept in memory at offset 5\n")
    inst.look(2.0)
    inst.look(3.0)  # no new line: the time stays
    assert inst.took_at == 2.0
    log.write_bytes(log.read_bytes() + b"partition 1 kept in memory at offset 9\n")
    inst.look(4.0)
    assert inst.took_at == 4.0


def test_the_steady_window_starts_at_the_last_instance_to_take_partitions() -> None:
    run = ib.Run(SimpleNamespace(), "src", 1000, "b", Path("."), None)  # type: ignore[arg-type]
    run.instances = [Instance(SimpleNamespace(pid=1), Path("a"), took_at=1.0),  # type: ignore[arg-type]
                     Instance(SimpleNamespace(pid=2), Path("b"), took_at=2.0)]  # type: ignore[arg-type]
    run.samples = [sample(0.0, 0), sample(1.0, 100), sample(2.0, 400), sample(3.0, 1000)]
    got = run.steady()
    assert got is not None and (got.records, got.seconds) == (600, 1.0)
    run.instances[1].took_at = None  # one never took a partition: no window
    assert run.steady() is None


def test_the_longest_stall_is_between_two_moves_of_the_committed_count() -> None:
    samples = [sample(0.0, 0), sample(5.0, 0),  # start-up before the first move: not a stall
               sample(6.0, 100), sample(6.5, 200), sample(8.5, 200), sample(9.0, 300),
               sample(9.5, 1000), sample(20.0, 1000)]  # after the end: not a stall
    assert ib.longest_stall(samples, 1000) == pytest.approx(2.5)  # 6.5 -> 9.0
    assert ib.longest_stall(samples[:2], 1000) == 0.0
    assert ib.longest_stall([sample(0.0, 0), sample(1.0, 1000)], 1000) == 0.0


@pytest.mark.parametrize("own", [True, False])
def test_each_detector_is_its_own_session_unless_asked(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path, own: bool) -> None:
    started: list[dict[str, Any]] = []

    def popen(args: list[str], **kwargs: Any) -> Any:
        started.append({"args": args, **kwargs})
        return SimpleNamespace(pid=1)

    monkeypatch.setattr("instances_bench.subprocess.Popen", popen)
    kafka = SimpleNamespace(bootstrap_servers="127.0.0.1:1")
    run = ib.Run(kafka, "src", 10, "b", tmp_path, None, own_session=own)  # type: ignore[arg-type]
    run.spawn("i0")
    run.spawn("i1")
    assert [s["start_new_session"] for s in started] == [own, own]
    assert [s["args"][-4:] for s in started] == [["--group", "b-group", "--instance-id", i]
                                                 for i in ("i0", "i1")]
    assert started[0]["args"][1:4] == ["-m", "auditstream", "detect"]
    assert started[0]["env"]["AUDITSTREAM_TRANSACTIONS_TOPIC"] == "src"
    assert started[0]["env"]["AUDITSTREAM_SCORED_TOPIC"] == run.scored == "b-scored"
