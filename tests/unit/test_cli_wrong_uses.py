"""Wrong uses a new user makes while following the README: each is one line and exit 2.

Found walking the README on a fresh clone (2026-12-01); every case here was a traceback
(or a silent success) before.
"""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest

from auditstream.cli import main
from auditstream.review.server import Outcomes, ReviewApp, make_server
from shared.errors import AuditstreamError, ExitCode

SMALL = ["--customers", "3", "--days", "1"]


def _one_error_line(capsys: pytest.CaptureFixture[str], prog: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"auditstream {prog}: error: "), err
    return err[0]


def test_generate_out_naming_a_folder_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["generate", *SMALL, "--out", str(tmp_path)]) == ExitCode.USAGE
    line = _one_error_line(capsys, "generate")
    assert "is a folder" in line and str(tmp_path) in line
    assert tmp_path.is_dir() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("recipe", ["realistic", "reference"])
@pytest.mark.parametrize("customers", ["0", "-1"])
def test_generate_with_no_customers_is_refused_not_replaced_by_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], recipe: str, customers: str,
) -> None:
    out = tmp_path / "x.csv"
    code = main(["generate", "--recipe", recipe, "--customers", customers, "--days", "1",
                 "--out", str(out)])
    assert code == ExitCode.USAGE and not out.exists()
    assert "customers" in _one_error_line(capsys, "generate")


def test_generate_with_one_customer_still_generates(tmp_path: Path) -> None:
    assert main(["generate", "--customers", "1", "--days", "2", "--out",
                 str(tmp_path / "x.csv")]) == ExitCode.OK


def test_generate_without_a_destination_prints_the_readme_error_format(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["generate"]) == ExitCode.USAGE
    assert "--out" in _one_error_line(capsys, "generate")


@pytest.mark.parametrize(("pace", "said"), [
    # --rate at least one message an hour (PRODUCER_RATE's bound, MIN_RATE: fixes19)
    (["--rate", "0"], "--rate: must be at least 0.000277778, not 0"),
    (["--rate", "-1"], "--rate: must be at least 0.000277778, not -1"),
    (["--speed", "0"], "--speed: must be positive, not 0")])
def test_replay_pace_not_positive_is_a_usage_error_before_any_file_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pace: list[str], said: str,
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["replay", str(tmp_path / "none.csv"), *pace])
    assert stop.value.code == ExitCode.USAGE
    assert said in capsys.readouterr().err


def test_replay_smallest_positive_pace_is_accepted_by_the_parser(tmp_path: Path) -> None:
    # the parser lets it through: the missing file is what stops it (exit 2, one line)
    assert main(["replay", str(tmp_path / "none.csv"), "--rate", "0.001"]) == ExitCode.USAGE


def test_score_out_naming_a_file_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data, out = tmp_path / "data.csv", tmp_path / "out.csv"
    assert main(["generate", *SMALL, "--out", str(data)]) == ExitCode.OK
    out.write_text("keep me")
    capsys.readouterr()
    assert main(["score", str(data), "--out", str(out)]) == ExitCode.USAGE
    assert "not a folder" in _one_error_line(capsys, "score")
    assert out.read_text() == "keep me"


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_dashboard_report_of_something_not_a_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str,
) -> None:
    target = tmp_path / "exports"
    if kind == "file":
        target.write_text("x")
    assert main(["dashboard", "report", str(target)]) == ExitCode.USAGE
    assert "not a folder" in _one_error_line(capsys, "dashboard")
    assert not (target / "report.html").exists() and (kind == "file") == target.exists()


def test_dashboard_report_of_an_exports_folder_still_writes_it(tmp_path: Path) -> None:
    assert main(["dashboard", "sample", "--synthetic", "--rows", "50", str(tmp_path)]) == 0
    assert main(["dashboard", "report", str(tmp_path)]) == ExitCode.OK
    assert (tmp_path / "report.html").is_file()


@pytest.mark.parametrize("content", [[], ["notes.txt", "scored/"]])
def test_dashboard_report_of_a_folder_without_exports_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: list[str],
) -> None:
    # It wrote an empty report.html and exited 0: a mistyped folder looked like a success.
    for name in content:
        (tmp_path / name).mkdir() if name.endswith("/") else (tmp_path / name).write_text("x")
    assert main(["dashboard", "report", str(tmp_path)]) == ExitCode.USAGE
    line = _one_error_line(capsys, "dashboard")
    assert f"no exports in {tmp_path}" in line and "auditstream demo" in line
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("name", ["run.json", "transactions_scored.csv",
                                  "scored/transactions_scored_2025-01-01.csv"])
def test_dashboard_report_of_a_folder_with_one_export_file_is_written(
    tmp_path: Path, name: str,
) -> None:
    # A table alone, or a run.json not auditstream's, is no exports (the sink's rule):
    # tests/unit/test_dashboard_foreign_folder.py.
    (tmp_path / name).parent.mkdir(exist_ok=True)
    (tmp_path / name).write_text('{\n  "auditstream_version": "0.1.0"\n}\n'
                                 if name.endswith(".json") else "a\n")
    assert main(["dashboard", "report", str(tmp_path)]) == ExitCode.OK
    assert (tmp_path / "report.html").is_file()


def test_review_serve_on_a_port_in_use_is_one_line_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = ReviewApp(tmp_path, "me", lambda review: None, Outcomes())
        with pytest.raises(AuditstreamError) as refused:
            make_server(app, port)
    assert refused.value.exit_code == ExitCode.USAGE
    assert f"port {port} is in use" in str(refused.value) and "--port" in str(refused.value)


@pytest.mark.parametrize("flag", ["--customers", "--days", "--partitions"])
def test_demo_counts_below_one_are_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str], flag: str,
) -> None:
    # --customers 0 used to reach `generate`, which replaced it by the 1000-customer default
    with pytest.raises(SystemExit) as stop:
        main(["demo", flag, "0"])
    assert stop.value.code == ExitCode.USAGE
    assert "at least 1" in capsys.readouterr().err


def test_demo_count_of_one_is_accepted() -> None:
    from auditstream.demo import _count

    assert _count("1") == 1


def test_screenshots_report_sees_the_day_files_and_run_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    # It copied only the top-level *.csv: since the rows moved to scored/, the report in
    # the README's screenshots had empty volume and recall charts and no run.json.
    import auditstream.dashboard_cmd as cmd
    from dashboard.build import SAMPLE_EXPORTS

    seen: list[set[str]] = []

    def report(folder: Path, into: Path) -> Path:  # made from the folder, written elsewhere
        assert into != folder
        seen.append({p.relative_to(folder).as_posix() for p in folder.rglob("*")})
        return into / "report.html"

    class Page:
        def __enter__(self) -> Page:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def open(self, url: str, ready: str) -> None:
            return None

        def screenshot(self, path: Path, full_page: bool = False) -> Path:
            return path

    monkeypatch.setattr(cmd, "write_report_from_exports", report)
    monkeypatch.setattr(cmd, "Chromium", lambda **size: Page())
    assert main(["dashboard", "screenshots", "--out", str(tmp_path), "--pbix", ""]) == 0
    days = {f"scored/{p.name}" for p in (SAMPLE_EXPORTS / "scored").glob("*.csv")}
    assert days and days <= seen[0] and "run.json" in seen[0] and "thresholds.csv" in seen[0]


def test_an_unwritable_output_is_named_as_given_not_by_its_hidden_temporary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # On a read-only file system `generate --out x.csv` said "cannot write .x.csv.1f1z.tmp".
    import errno
    import os
    import tempfile

    def read_only(prefix: str, suffix: str, dir: Path) -> tuple[int, str]:
        hidden = os.path.join(dir, f"{prefix}1f1zqttt{suffix}")
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), hidden)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    out = tmp_path / "x.csv"
    assert main(["generate", *SMALL, "--out", str(out)]) == ExitCode.OUTPUT_UNWRITABLE
    err = capsys.readouterr().err
    assert f"cannot write {out}: the file system is read-only" in err and ".tmp" not in err


def test_sink_until_idle_below_zero_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # it was accepted and meant "stop at once once drained", silently
    with pytest.raises(SystemExit) as stop:
        main(["sink", "--until-idle", "-1"])
    assert stop.value.code == ExitCode.USAGE
    assert "--until-idle" in capsys.readouterr().err


def test_sink_until_idle_of_zero_is_accepted_by_the_parser() -> None:
    import argparse

    from sink.cli import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args(["--until-idle", "0"]).until_idle == 0.0


@pytest.mark.parametrize(("kind", "least", "strict", "text", "refusal"), [
    (int, 1, False, "0", "must be at least 1, not 0"), (int, 1, False, "1", None),
    (int, 1, False, "2", None), (int, 1, False, "1.5", "not a whole number: '1.5'"),
    (float, 0, True, "-1e-9", "must be positive"), (float, 0, True, "0", "must be positive"),
    (float, 0, True, "1e-9", None), (float, 0, True, "nan", "must be positive, not nan"),
    (float, 0, False, "-1e-9", "must be 0 or more"), (float, 0, False, "0", None),
    (float, 0, False, "1e-9", None), (float, 0, False, "x", "not a number: 'x'"),
])
def test_the_one_number_type_of_every_command_line_at_its_bound(
    kind: type[int] | type[float], least: float, strict: bool, text: str, refusal: str | None,
) -> None:
    """`shared.entry.number`, the type of demo's counts, replay's pace and --until-idle."""
    import argparse

    from shared.entry import number

    parse = number(kind, least, strict=strict)
    if refusal is None:
        assert parse(text) == kind(text)
    else:
        with pytest.raises(argparse.ArgumentTypeError, match=refusal):
            parse(text)


@pytest.mark.parametrize("kind", ["missing", "bad header", "one good, one missing"])
def test_replay_of_an_unreadable_file_says_only_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    # It first logged "input not in time order: parsing and sorting every row", which sent
    # a new user looking at the file's order, then gave the real cause.
    bad = tmp_path / "bad.csv"
    if kind == "bad header":
        bad.write_text("a,b\n1,2\n")
    files = [str(bad)]
    if kind == "one good, one missing":
        good = tmp_path / "good.csv"
        assert main(["generate", *SMALL, "--out", str(good)]) == ExitCode.OK
        files.insert(0, str(good))
    capsys.readouterr()
    caplog.set_level(logging.INFO)
    assert main(["replay", *files]) == ExitCode.USAGE
    line = _one_error_line(capsys, "replay")
    assert str(bad) in line and ("no such file" if kind != "bad header" else "wrong header") in line
    assert [r.getMessage() for r in caplog.records] == []


def test_replay_of_rows_out_of_time_order_still_says_it_sorts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    import producer.replay as replay

    data = tmp_path / "data.csv"
    assert main(["generate", *SMALL, "--out", str(data)]) == ExitCode.OK
    header, *rows = data.read_text().splitlines()
    data.write_text("\n".join([header, *reversed(rows)]) + "\n")
    sent: list[int] = []
    monkeypatch.setattr(replay, "publish", lambda records, *a, **k: sent.append(len(records)))
    caplog.set_level(logging.INFO)
    main(["replay", str(data)])
    assert sent == [len(rows)]
    assert "input not in time order" in caplog.text


@pytest.mark.parametrize("value", ["1e309", "inf", "-inf", "nan"])
def test_score_with_a_cost_that_is_not_a_finite_number_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:
    """Infinity passed `ge=0`: the command then logged a traceback, wrote `Infinity` into
    run.json (not JSON) and no report, and exited 0 (found by a hostile probe, 2026-12-04)."""
    data, out = tmp_path / "data.csv", tmp_path / "out"
    assert main(["generate", *SMALL, "--out", str(data)]) == ExitCode.OK
    capsys.readouterr()
    monkeypatch.setenv("EXPORTS_COST_FP", value)
    assert main(["score", str(data), "--out", str(out)]) == ExitCode.USAGE
    assert "invalid setting EXPORTS_COST_FP" in _one_error_line(capsys, "score")
    assert not out.exists()


@pytest.mark.parametrize(("value", "code"), [
    ("1e308", ExitCode.USAGE), ("1.000000000001e12", ExitCode.USAGE),
    ("1e12", ExitCode.OK), ("999999999999", ExitCode.OK)])
def test_score_with_costs_whose_sum_overflows_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    value: str, code: ExitCode,
) -> None:
    """Finite costs whose expected cost overflows: EXPORTS_COST_FP=EXPORTS_COST_FN=1e308 made
    `fp * 1e308 + fn * 1e308` infinite, `Infinity` in run.json (not JSON) and the report's
    ValueError traceback, exit 70 (hostile probe of the environment, 2026-12-06, fifteenth).
    A cost is at most 10^12, the amounts' bound."""
    data, out = tmp_path / "data.csv", tmp_path / "out"
    # enough rows for false alarms and misses at some threshold: both costs count
    assert main(["generate", "--customers", "20", "--days", "30", "--out", str(data)]) == 0
    capsys.readouterr()
    monkeypatch.setenv("EXPORTS_COST_FP", value)
    monkeypatch.setenv("EXPORTS_COST_FN", value)
    assert main(["score", str(data), "--out", str(out)]) == code
    if code == ExitCode.USAGE:
        line = _one_error_line(capsys, "score")
        assert "invalid setting EXPORTS_COST_FP" in line and "EXPORTS_COST_FN" in line
        assert not out.exists()
        return
    def refuse(constant: str) -> None:
        raise AssertionError(f"run.json holds {constant}, which is not JSON")
    run = json.loads((out / "run.json").read_text(), parse_constant=refuse)
    assert run["cost_fn"] == float(value) and run["recommended_expected_cost"] > 0
    assert (out / "report.html").is_file()


@pytest.mark.parametrize(("command", "variable", "value", "says"), [
    # the C consumer aborted: SIGABRT, exit 134, no line (a hostile probe, 2026-12-05)
    ("detect", "DETECTOR_GROUP_ID", "", "invalid setting DETECTOR_GROUP_ID"),
    ("sink", "SINK_GROUP_ID", "", "invalid setting SINK_GROUP_ID"),
    # an endless poll: SIGTERM was logged and then waited for a message, for good
    ("detect", "DETECTOR_POLL_TIMEOUT_S", "inf", "invalid setting DETECTOR_POLL_TIMEOUT_S"),
    ("detect", "DETECTOR_POLL_TIMEOUT_S", "5.001", "invalid setting DETECTOR_POLL_TIMEOUT_S"),
    # a traceback in the assign callback (exit 70)
    ("detect", "DETECTOR_DEDUPE_HORIZON_S", "inf", "invalid setting DETECTOR_DEDUPE_HORIZON_S"),
    # accepted without a word: 396 of 544 rows flagged
    ("score", "DETECTOR_CORE__BURST_WINDOW_S", "inf",
     "invalid setting DETECTOR_CORE__BURST_WINDOW_S"),
    ("score", "DETECTOR_CORE__MAX_CUSTOMERS", "99999999999999999999",
     "invalid setting DETECTOR_CORE__MAX_CUSTOMERS"),
    # pydantic-settings' SettingsError: a traceback (exit 70)
    # ... then named the field, "core", not the variable (environment walk, seventeenth)
    ("score", "DETECTOR_CORE__RATE_WINDOWS_S", "abc",
     "invalid setting DETECTOR_CORE__RATE_WINDOWS_S: not JSON"),
    ("detect", "DETECTOR_CORE__RATE_WINDOWS_S", "[inf]",
     "invalid setting DETECTOR_CORE__RATE_WINDOWS_S: not JSON"),
    ("detect", "DETECTOR_CORE", "x", "invalid setting DETECTOR_CORE: not JSON"),
])
def test_a_setting_a_service_cannot_honour_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    command: str, variable: str, value: str, says: str,
) -> None:
    data = tmp_path / "data.csv"
    assert main(["generate", *SMALL, "--out", str(data)]) == ExitCode.OK
    capsys.readouterr()
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # never reached: refused first
    argv = {"detect": ["detect"], "sink": ["sink", "--exports", str(tmp_path / "e")],
            "score": ["score", str(data), "--out", str(tmp_path / "o")]}[command]
    assert main(argv) == ExitCode.USAGE
    assert says in _one_error_line(capsys, command)


#: 2^32: the first seed numpy's 32-bit seeding (scikit-learn's forests) would wrap to 0.
_WRAPPING_SEEDS = ["4294967296", "4294967338", "-1"]


@pytest.mark.parametrize("seed", _WRAPPING_SEEDS)
@pytest.mark.parametrize("command", ["generate", "score", "demo", "dashboard sample"])
def test_a_seed_that_would_wrap_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, seed: str,
) -> None:
    """`score --seed 4294967338` gave exactly the outputs of `--seed 42` (the forests are
    seeded modulo 2^32): two seeds, one result, without a word (a hostile probe, 2026-12-05)."""
    argv = {"generate": ["generate", *SMALL, "--out", str(tmp_path / "x.csv")],
            "score": ["score", str(tmp_path / "x.csv"), "--out", str(tmp_path / "o")],
            "demo": ["demo"],
            "dashboard sample": ["dashboard", "sample", str(tmp_path / "s")]}[command]
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--seed", seed])
    assert stop.value.code == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert "--seed: must be from 0 to 4294967295" in err[-1], err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", _WRAPPING_SEEDS)
@pytest.mark.parametrize(("command", "variable"), [
    ("score", "DETECTOR_CORE__SEED"), ("detect", "DETECTOR_CORE__SEED"),
    ("producer", "PRODUCER_SEED"),
])
def test_a_seed_setting_that_would_wrap_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    command: str, variable: str, seed: str,
) -> None:
    data = tmp_path / "data.csv"
    assert main(["generate", *SMALL, "--out", str(data)]) == ExitCode.OK
    capsys.readouterr()
    monkeypatch.setenv(variable, seed)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # never reached: refused first
    if command == "producer":
        from producer.__main__ import main as producer_main
        monkeypatch.setenv("PRODUCER_OUT", str(tmp_path / "p.csv"))
        monkeypatch.setenv("PRODUCER_PUBLISH", "false")
        assert producer_main([]) == ExitCode.USAGE
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"invalid setting {variable}" in err[0], err
        assert not (tmp_path / "p.csv").exists()
        return
    argv = {"detect": ["detect"],
            "score": ["score", str(data), "--out", str(tmp_path / "o")]}[command]
    assert main(argv) == ExitCode.USAGE
    assert f"invalid setting {variable}" in _one_error_line(capsys, command)


@pytest.mark.parametrize("seed", ["0", "4294967295"])
def test_the_seeds_at_the_bounds_are_accepted(tmp_path: Path, seed: str) -> None:
    assert main(["generate", *SMALL, "--seed", seed, "--out", str(tmp_path / "x.csv")]) == 0
    assert main(["score", str(tmp_path / "x.csv"), "--out", str(tmp_path / "o"),
                 "--seed", seed]) == ExitCode.OK


@pytest.mark.parametrize(("options", "named"), [
    (["--rows", "10"], "--rows"), (["--synthetic", "--customers", "5"], "--customers")])
def test_a_sample_option_its_kind_would_ignore_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], named: str,
) -> None:
    """`dashboard sample out --rows 10` wrote the realistic run's 2,342 rows, `--synthetic
    --customers 5` the 2,000 synthetic ones, without a word (hostile probe, 2026-12-06,
    fifteenth), as `generate --recipe reference --mix extended` once did."""
    out = tmp_path / "out"
    assert main(["dashboard", "sample", str(out), *options]) == ExitCode.USAGE
    line = _one_error_line(capsys, "dashboard")
    assert named in line and "--synthetic" in line, line
    assert not out.exists()


@pytest.mark.parametrize("options", [["--synthetic", "--rows", "7"], ["--customers", "2"]])
def test_a_sample_with_the_options_of_its_kind_is_written(
    tmp_path: Path, options: list[str]) -> None:
    out = tmp_path / "out"
    assert main(["dashboard", "sample", str(out), *options]) == ExitCode.OK
    rows = sum(len(f.read_text().splitlines()) - 1 for f in (out / "scored").glob("*.csv"))
    assert rows == 7 if "--rows" in options else rows > 7


@pytest.mark.parametrize("option", [["--review-accuracy", "0.9"], ["--review-share", "0"],
                                    ["--review-false-confirm", "1"]])
def test_a_demo_review_option_without_review_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    option: list[str],
) -> None:
    """`demo --review-accuracy 0.9` without `--review` ran the whole demo with no reviewer,
    the option ignored without a word (hostile probe, 2026-12-06, fifteenth)."""
    import auditstream.demo

    started: list[auditstream.demo.Demo] = []

    def run(self: auditstream.demo.Demo) -> int:  # nothing started: the args it was given
        started.append(self)
        return 0

    monkeypatch.setattr(auditstream.demo.Demo, "run", run)
    argv = ["demo", "--exports", str(tmp_path / "ex"), *option]
    assert main(argv) == ExitCode.USAGE
    line = _one_error_line(capsys, "demo")
    assert option[0] in line and "--review" in line.replace(option[0], ""), line
    assert started == []
    assert main([*argv, "--review"]) == ExitCode.OK
    assert main(["demo", "--exports", str(tmp_path / "ex")]) == ExitCode.OK
    with_review, plain = (demo.args for demo in started)
    assert with_review.review_accuracy == (0.9 if "accuracy" in option[0] else 0.95)
    assert (plain.review_accuracy, plain.review_false_confirm, plain.review_share) == (
        0.95, 0.0, 1.0)
