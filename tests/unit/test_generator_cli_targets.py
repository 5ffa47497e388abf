"""`generate`'s two leftovers of the hostile probes (2026-12-05).

- `--out new/` (a folder's name: a trailing slash, `/.`, `/..`) wrote a file named `new`;
  `--out ''` was refused as ". is a folder". Both are one usage line now, nothing written.
- A rate the data cannot fill (tiny `--customers`/`--days`, a high rate) was one log line
  for the six types (`placed 0 of 3`, no hint) and nothing for the extended mix's four. Now
  each unfilled type is one warning line: placed, the share of the rows it is, what the
  rate asked and how to get more; the file is still written, exit 0 (the data is whole
  and correctly labelled: docs/producer.md, "Anomaly rates").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from producer import generator
from producer.generator import DEFAULT_RATES, GeneratorConfig
from shared.csv_io import load_sorted
from shared.errors import ExitCode

TINY = ["--customers", "2", "--days", "2"]


@pytest.mark.parametrize(("suffix", "hint"), [("/", "/data.csv"), ("//", "/data.csv"),
                                             ("/.", "/./data.csv"), ("/..", "/../data.csv"),
                                             # the hint drops the slashes only
                                             ("X/", "X/data.csv")])
@pytest.mark.parametrize("option", ["--out", "--changes-out"])
def test_an_output_named_as_a_folder_is_refused_and_nothing_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, suffix: str,
        hint: str) -> None:
    given = f"{tmp_path / 'new'}{suffix}"
    argv = ["generate", *TINY, "--mix", "extended", "--out", str(tmp_path / "a.csv")]
    argv += [option, given] if option == "--changes-out" else []
    if option == "--out":
        argv[argv.index("--out") + 1] = given
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith(f"argument {option}: {given} names a folder (it ends in '/', '.' or "
                        f"'..'); give a file name, such as {tmp_path / 'new'}{hint}"), err
    assert sorted(tmp_path.iterdir()) == []


def test_an_empty_output_name_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["generate", *TINY, "--out", ""])
    assert stop.value.code == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith("argument --out: an empty name; give a file name"), err


def test_a_file_name_is_still_written(tmp_path: Path) -> None:
    out = tmp_path / "new.d" / "x.csv"
    out.parent.mkdir()
    assert main(["generate", *TINY, "--out", str(out)]) == 0
    assert load_sorted([out])[0]


_WARNING = re.compile(
    r"auditstream generate: warning: (\w+): (\d+) rows \(([\d.]+)% of (\d+)\), not the (\d+) "
    r"its rate ([\d.]+)% asks: .*give more --customers or --days")


def generate_all(config: GeneratorConfig) -> Any:
    """`producer.generator.generate_all` (looked up here so this file runs on older code)."""
    return generator.generate_all(config)  # type: ignore[attr-defined,unused-ignore]


def _run(tmp_path: Path, rate: float, capsys: pytest.CaptureFixture[str]
         ) -> tuple[list[tuple[str, ...]], Path]:
    out = tmp_path / f"r{rate}.csv"
    assert main(["generate", *TINY, "--anomaly-rate", f"NEW_COUNTRY={rate}",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    return [m.groups() for m in _WARNING.finditer(err)], out


def _config(rate: float) -> GeneratorConfig:
    return GeneratorConfig(customers=2, days=2, rates={**DEFAULT_RATES, "NEW_COUNTRY": rate})


def test_a_rate_the_rows_cannot_fill_is_one_precise_warning_and_the_file_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 2 customers with 2 days have no history for a first foreign country: none placed
    warnings, out = _run(tmp_path, 0.3, capsys)
    rows = load_sorted([out])[0]
    placed = sum(t.anomaly_type == "NEW_COUNTRY" for t in rows)
    assert [w[:4] + w[5:] for w in warnings] == [
        ("NEW_COUNTRY", str(placed), f"{placed / len(rows) * 100:.2f}", str(len(rows)),
         "30.00")]
    expected = generate_all(_config(0.3))
    assert [(s.kind, s.placed, str(s.asked)) for s in expected.shortfalls] == [
        ("NEW_COUNTRY", placed, warnings[0][4])]
    assert placed < expected.shortfalls[0].asked


def test_the_warning_comes_at_the_first_row_the_rate_asks_beyond_what_fits(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """At the boundary: 4 customers with 45 days can each have one NEW_COUNTRY (the first
    foreign country of a customer). The largest rate asking what fits warns of nothing, the
    first asking one row more warns; both found from the generator, not written in here."""
    size = ["--customers", "4", "--days", "45"]

    def config(rate: float) -> GeneratorConfig:
        return GeneratorConfig(customers=4, days=45, rates={**DEFAULT_RATES, "NEW_COUNTRY": rate})

    rates = [r / 10_000 for r in range(0, 300, 5)]
    short = {r: generate_all(config(r)).shortfalls for r in rates}
    first_short = min(r for r in rates if short[r])
    last_fit = max(r for r in rates if r < first_short)
    capacity = short[first_short][0].placed
    assert capacity > 0 and short[first_short][0].asked == capacity + 1  # one row beyond
    placed = sum(t.anomaly_type == "NEW_COUNTRY" for t in generate_all(config(last_fit))[0])
    assert placed == capacity  # the last rate that fits asks exactly what can be placed
    for rate, warns in ((last_fit, False), (first_short, True)):
        out = tmp_path / f"{rate}.csv"
        assert main(["generate", *size, "--anomaly-rate", f"NEW_COUNTRY={rate}",
                     "--out", str(out)]) == 0
        warned = [m.groups() for m in _WARNING.finditer(capsys.readouterr().err)]
        assert bool(warned) == warns, (rate, warned)
        if warns:
            assert warned[0][0] == "NEW_COUNTRY" and warned[0][1] == str(capacity)
            assert warned[0][4] == str(capacity + 1)
        assert out.is_file()


def test_the_extended_kinds_that_cannot_be_placed_are_named_without_a_rate_option(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "e.csv"
    assert main(["generate", "--customers", "30", "--days", "20", "--mix", "extended",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if "warning:" in line]
    expected = generate_all(generator.mix_config("extended", seed=42, customers=30,
                                                 days=20)).shortfalls
    assert [line.split()[3].rstrip(":") for line in warned] == [s.kind for s in expected]
    for line, s in zip(warned, expected, strict=True):
        assert f"not the {s.asked} " in line
        # --anomaly-rate takes only the six types: no advice it would refuse
        assert ("--anomaly-rate" in line) == (s.kind in {
            "HIGH_AMOUNT", "ODD_HOUR", "DUPLICATE", "BURST", "IMPOSSIBLE_TRAVEL", "NEW_COUNTRY"})
    assert out.is_file()
