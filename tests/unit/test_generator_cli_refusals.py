"""`auditstream generate` wrong uses found probing the CLI (2026-12-03): each was a silent
loss of a file or a multi-line error instead of the README's one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.cli import main
from producer.generator import GeneratorConfig, generate_events
from shared.errors import ExitCode

SMALL = ["--customers", "3", "--days", "3"]


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("auditstream generate: error: "), err
    return err[0]


@pytest.mark.parametrize("same", ["x.csv", "./x.csv", "sub/../x.csv"])
def test_changes_out_and_out_naming_one_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    same: str,
) -> None:
    """Before: the sidecar was written, then replaced by the transactions, exit 0."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    code = main(["generate", "--mix", "extended", *SMALL, "--changes-out", same,
                 "--out", "x.csv"])
    assert code == ExitCode.USAGE and not (tmp_path / "x.csv").exists()
    line = _one_error_line(capsys)
    assert "--changes-out" in line and "--out" in line


def test_changes_out_and_out_naming_two_files_write_both(tmp_path: Path) -> None:
    out, changes = tmp_path / "x.csv", tmp_path / "y.csv"
    code = main(["generate", "--mix", "extended", *SMALL, "--changes-out", str(changes),
                 "--out", str(out)])
    assert code == ExitCode.OK
    assert out.read_text().startswith("transaction_id,")
    assert changes.read_text().startswith("customer_id,")


@pytest.mark.parametrize(("start", "days"), [("1969-12-31", "3"), ("2100-12-30", "3")])
def test_start_outside_the_timestamp_range_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], start: str, days: str,
) -> None:
    """Before: pydantic's three-line ValidationError after `error:`."""
    out = tmp_path / "x.csv"
    code = main(["generate", "--customers", "3", "--days", days, "--start", start,
                 "--out", str(out)])
    assert code == ExitCode.USAGE and not out.exists()
    line = _one_error_line(capsys)
    assert "1970-2100" in line and "--start" in line


@pytest.mark.parametrize("start", ["1970-01-01", "2100-12-29"])
def test_start_at_the_edges_of_the_range_generates(tmp_path: Path, start: str) -> None:
    code = main(["generate", "--customers", "3", "--days", "3", "--start", start,
                 "--out", str(tmp_path / "x.csv")])
    assert code == ExitCode.OK


@pytest.mark.parametrize(("flag", "value", "named"), [
    ("--tx-per-day", "nan", "tx_per_customer_day"),
    ("--tx-per-day", "inf", "tx_per_customer_day"),
    ("--tx-per-day", "0", "tx_per_customer_day"),
    ("--anomaly-rate", "BURST=nan", "anomaly rates"),
    ("--anomaly-rate", "BURST=-0.001", "anomaly rates"),
    ("--anomaly-rate", "BURST=0.5", "anomaly rates"),
    ("--traveller-share", "nan", "traveller_share"),
    ("--traveller-share", "1.001", "traveller_share"),
    ("--traveller-share", "-0.001", "traveller_share"),
    ("--travel-gap-hours", "-0.001", "travel_gap_hours"),
    ("--travel-gap-hours", "inf", "travel_gap_hours"),
    ("--duplicate-window-minutes", "-1", "duplicate_window_minutes"),
    ("--duplicate-window-minutes", "nan", "duplicate_window_minutes"),
    ("--duplicate-window-minutes", "0.99", "duplicate_window_minutes"),  # under a minute
])
def test_a_value_out_of_its_range_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, named: str,
) -> None:
    """Before: NaN and negative shares, gaps and windows were taken silently, NaN or inf
    rows per day and a NaN rate failed in numpy's words ("lam value too large", "cannot
    convert float NaN to integer"). Named by the flag typed, not the generator's knob
    (`tx_per_customer_day`, which no option or setting is called; probe of 2026-12-06)."""
    out = tmp_path / "x.csv"
    code = main(["generate", *SMALL, f"{flag}={value}", "--out", str(out)])
    assert code == ExitCode.USAGE and not out.exists()
    line = _one_error_line(capsys)
    assert flag in line and named not in line, line


def test_the_generator_s_prose_keeps_its_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # `customers` and `days` are words of its messages too: never made `--customers`
    code = main(["generate", "--customers", "30", "--days", "3", "--travel-gap-hours", "73",
                 "--out", str(tmp_path / "x.csv")])
    assert code == ExitCode.USAGE
    line = _one_error_line(capsys)
    assert "(the shortest trip, 3 days)" in line and "--travel-gap-hours" in line, line


@pytest.mark.parametrize(("flag", "value"), [
    ("--traveller-share", "0"), ("--traveller-share", "1"), ("--travel-gap-hours", "0"),
    ("--duplicate-window-minutes", "1"), ("--anomaly-rate", "BURST=0"),
    ("--tx-per-day", "0.001"),
])
def test_a_value_at_the_edge_of_its_range_generates(
    tmp_path: Path, flag: str, value: str,
) -> None:
    out = tmp_path / "x.csv"
    size = ["--customers", "2000", "--days", "5"] if flag == "--tx-per-day" else SMALL
    assert main(["generate", *size, f"{flag}={value}", "--out", str(out)]) == ExitCode.OK
    assert out.read_text().startswith("transaction_id,")
    assert len(out.read_text().splitlines()) > 1


@pytest.mark.parametrize(("extra", "says"), [
    # one option "applies", two "apply" (was "--tx-per-day apply to"; environment walk)
    (["--recipe", "reference", "--mix", "extended"], "--mix applies to the realistic recipe"),
    (["--recipe", "reference", "--anomaly-rate", "BURST=0.01"], "--anomaly-rate applies to"),
    (["--recipe", "reference", "--tx-per-day", "0"], "--tx-per-day applies to the realistic"),
    (["--recipe", "reference", "--mix", "extended", "--tx-per-day", "1"],
     "--mix and --tx-per-day apply to the realistic recipe"),
    (["--changes-out", "c.csv"], "--changes-out needs --mix extended"),
    (["--mix", "default", "--changes-out", "c.csv"], "--changes-out needs --mix extended"),
    (["--tx-per-day", "1e-9"], "generate no transaction (--customers 3 and --days 3 at 1e-09 "
     "rows a customer-day); give more --customers or --days, or a higher --tx-per-day"),
])
def test_an_option_the_recipe_would_ignore_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    extra: list[str], says: str,
) -> None:
    """Each was ignored without a word (the reference data, an empty sidecar, a header-only
    CSV, exit 0; a hostile probe)."""
    monkeypatch.chdir(tmp_path)
    assert main(["generate", *SMALL, *extra, "--out", "x.csv"]) == ExitCode.USAGE
    assert says in _one_error_line(capsys)
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "c.csv").exists()


def test_a_one_minute_duplicate_window_places_each_twin_a_minute_after_its_original() -> None:
    """The edge of `--duplicate-window-minutes` with duplicates actually placed: each twin
    60 s after a purchase identical but for the label (0 minutes failed in numpy's words,
    "low >= high", on any stream large enough to place one)."""
    config = GeneratorConfig(customers=200, days=20, rates={"DUPLICATE": 0.01},
                             duplicate_window_minutes=1)
    events, counts = generate_events(config)
    assert counts["DUPLICATE"] > 0
    seen = {(e.cust, e.ts, e.amount, e.device, e.category, e.ip) for e in events
            if e.label != "DUPLICATE"}
    twins = [e for e in events if e.label == "DUPLICATE"]
    assert len(twins) == counts["DUPLICATE"]
    assert all((e.cust, e.ts - 60, e.amount, e.device, e.category, e.ip) in seen
               for e in twins)


@pytest.mark.parametrize("argv", [
    ["--transactions", "10"],
    ["--recipe", "reference", "--tx-per-day", "9"],
    ["--recipe", "reference", "--traveller-share", "0.5"],
    ["--recipe", "reference", "--travel-gap-hours", "1"],
    ["--recipe", "reference", "--duplicate-window-minutes", "5"],
])
def test_a_knob_of_the_other_recipe_is_refused_not_ignored(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """`generate --transactions 10` wrote the realistic recipe's rows, `--recipe reference
    --tx-per-day 9` the reference's 8,025, without a word (hostile probe, 2026-12-06,
    fifteenth), as `--recipe reference --mix extended` once did."""
    out = tmp_path / "tx.csv"
    assert main(["generate", "--customers", "5", "--days", "3", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and argv[-2] in err[0], err
    assert not out.exists()


@pytest.mark.parametrize("argv", [["--recipe", "reference", "--transactions", "10"],
                                  ["--tx-per-day", "1", "--traveller-share", "0"]])
def test_a_knob_of_its_own_recipe_is_taken(tmp_path: Path, argv: list[str]) -> None:
    out = tmp_path / "tx.csv"
    assert main(["generate", "--customers", "5", "--days", "3", *argv, "--out", str(out)]) == 0
    assert out.exists()


def test_a_run_without_a_row_quotes_the_default_customers_it_ran_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "x.csv"
    assert main(["generate", "--days", "1", "--tx-per-day", "1e-9", "--out", str(out)]
                ) == ExitCode.USAGE
    assert "no transaction (--customers 1000 and --days 1 at 1e-09" in (
        _one_error_line(capsys))
    assert not out.exists()


@pytest.mark.parametrize(("argv", "says"), [
    (["generate", *SMALL, "--out", " "], "argument --out: ' ' is only blank space"),  # wrote ' '
    (["replay", ""], "argument FILE.csv: an empty name; give a file"),  # "cannot read ."
    (["replay", "\t"], "argument FILE.csv: '\\t' is only blank space"),
])
def test_an_empty_or_blank_file_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    argv: list[str], says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == ExitCode.USAGE
    assert says in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
