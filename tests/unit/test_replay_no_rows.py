"""`replay` of input without a row to send (header only: an upstream export that failed; or
every row rejected) is refused as `score` refuses it: exit 2, one line saying "no row",
before Kafka is asked (before: exit 0 or 1, `sent 0 of 0`, after the wait for a broker)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from producer import replay
from producer.app import PublishReport
from producer.settings import ProducerSettings
from producer.sources import stream as stream_rows
from shared.csv_io import write_transactions_csv
from tests.unit.test_core_engine import stream

#: A row rejected for its amount; its time is read, so it counts for the order check.
BAD_ROW = "x{i},c1,2026-01-0{day}T00:00:00,-inf,CH,app,mobile,grocery,,False,normal\n"


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows each publish was handed (the fake sends them all)."""
    counts: list[int] = []

    def publish(records: Iterable[Any], _settings: Any, total: int, *_a: Any,
                **_k: Any) -> PublishReport:
        n = sum(1 for _ in records)
        counts.append(n)
        return PublishReport(total=total, sent=n, delivered=n)

    monkeypatch.setattr("producer.replay.publish", publish)
    return counts


def _input(tmp_path: Path, good: int, bad: int, ordered: bool = True) -> Path:
    """A CSV of `good` valid rows and `bad` rejected ones (after them, dated before them),
    each part in time order (streamed) unless `ordered` (then reversed: sorted first)."""
    rows = list(stream(n=max(good, 2), customers=2, seed=3))[:good]
    if not ordered and len(rows) > 1:
        rows = rows[::-1]
    f = tmp_path / "in.csv"
    write_transactions_csv(rows, f)
    with f.open("a") as fh:
        for i in range(bad):
            fh.write(BAD_ROW.format(i=i, day=1 + i if ordered else 9 - i))
    return f


@pytest.mark.parametrize("ordered", [True, False], ids=["streamed", "sorted"])
@pytest.mark.parametrize(("good", "bad"), [(0, 0), (0, 1), (0, 2)],
                         ids=["header only", "one row rejected", "every row rejected"])
def test_no_row_to_send_is_exit_2_in_one_line_nothing_sent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], sent: list[int],
        good: int, bad: int, ordered: bool) -> None:
    f = _input(tmp_path, good, bad, ordered)
    assert main(["replay", str(f)]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert errors == [f"auditstream replay: error: no row to send in {f} (header only, or "
                      f"every row rejected: {bad}); nothing sent"], err
    assert sent == []  # Kafka never asked
    assert (tmp_path / "in.rejects.csv").exists() == (bad > 0)  # the bad rows still reported


@pytest.mark.parametrize("ordered", [True, False], ids=["streamed", "sorted"])
@pytest.mark.parametrize(("good", "bad", "code"), [(1, 0, 0), (1, 2, 1)])
def test_one_row_to_send_is_sent(tmp_path: Path, sent: list[int], good: int, bad: int,
                                 code: int, ordered: bool) -> None:
    f = _input(tmp_path, good, bad, ordered)
    assert main(["replay", str(f)]) == code
    assert sent == [1]


@pytest.mark.parametrize("ordered", [True, False], ids=["streamed", "sorted"])
def test_no_row_read_from_a_file_changed_meanwhile_is_said_as_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        sent: list[int], ordered: bool) -> None:
    # the refusal shared by a sorted replay's check and the no-row refusal (`_refuse_changed`)
    import producer.sources

    f = _input(tmp_path, 0, 2, ordered)
    name = "stream" if ordered else "load"
    read = getattr(producer.sources, name)

    def and_change(*args: Any) -> Any:
        out = read(*args)
        if ordered:  # a generator: its rows read first
            out = iter(list(out))
        with f.open("a") as fh:
            fh.write(BAD_ROW.format(i=9, day=9))
        return out

    monkeypatch.setattr(f"producer.replay.{name}", and_change)
    assert main(["replay", str(f)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert errors == [f"auditstream replay: error: {f} changed while it was read (written to "
                      "in place), nothing sent; replay it once nothing writes to it"]
    assert sent == []


def test_input_without_a_row_that_changed_while_read_is_said_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sent: list[int]) -> None:
    """Header only when read, written to before the refusal: the line says it changed (its
    rows, if any now, were not the ones read), not that it holds none."""
    f = _input(tmp_path, 0, 0)
    def stream_then_written(inputs: Any, rejects: Any) -> Iterator[Any]:
        yield from stream_rows(inputs, rejects)
        with f.open("a") as out:  # an export job still writing it
            out.write(BAD_ROW.format(i=0, day=1))

    monkeypatch.setattr("producer.replay.stream", stream_then_written)
    with pytest.raises(replay.ReplayError) as refused:
        replay.run_replay([f], ProducerSettings())
    assert str(refused.value) == (
        f"{f} changed while it was read (written to in place), nothing sent; replay it once "
        "nothing writes to it")
    assert sent == []
