"""A command refuses a bad input before it creates its output (leftover of the hostile
probes, 2026-12-05): `score bad.csv --out new/` left `new/` behind holding only its lock
file (a bad header, a missing input) or its lock and an empty `scored/` (a header-only
input), `dashboard sample new/ --customers 0` an empty folder and a traceback, and
`dashboard screenshots --pbix missing.pbix` took its screenshots, then ended in a
traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.cli import main
from shared.csv_io import write_transactions_csv
from shared.errors import ExitCode
from tests.unit.test_core_engine import stream

HEADER = ("transaction_id,customer_id,timestamp,amount,country,channel,device,"
          "merchant_category,ip\n")


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTS_SAMPLE_KEY", "a-test-key-of-our-own")


def _error_line(capsys: pytest.CaptureFixture[str], prog: str) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if " error: " in line]
    assert len(err) == 1 and err[0].startswith(f"auditstream {prog}: error: "), err
    return err[0]


def _input(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "in.csv"
    if kind == "a wrong header":
        path.write_text("a,b\n1,2\n")
    elif kind == "an empty file":
        path.write_text("")
    elif kind == "a folder":
        path.mkdir()
    elif kind == "header only":
        path.write_text(HEADER)
    elif kind == "every row rejected":
        path.write_text(HEADER + "1,c1,not a time,5,CH,web,phone,food,1.2.3.4\n")
    return path  # "missing": nothing there


@pytest.mark.parametrize("kind", ["a wrong header", "an empty file", "missing", "a folder",
                                  "header only", "every row rejected"])
def test_score_of_a_bad_input_creates_no_exports_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    source = _input(tmp_path, kind)
    out = tmp_path / "new"
    assert main(["score", str(source), "--out", str(out)]) == ExitCode.USAGE
    _error_line(capsys, "score")
    assert not out.exists()
    rejects = tmp_path / "in.rejects.csv"  # the one file such a run writes: its report
    assert rejects.exists() == (kind == "every row rejected")


def test_score_of_a_header_only_input_leaves_an_existing_folder_as_it_was(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.csv"
    write_transactions_csv(stream(n=60, customers=5, seed=2), good)
    out = tmp_path / "out"
    assert main(["score", str(good), "--out", str(out)]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(["score", str(_input(tmp_path, "header only")), "--out", str(out)]) == 2
    _error_line(capsys, "score")
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("option", [["--customers", "0"], ["--customers", "-3"],
                                    ["--synthetic", "--rows", "0"],
                                    ["--synthetic", "--rows", "-1"]])
def test_dashboard_sample_refuses_a_size_below_one_in_one_line_creating_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str]) -> None:
    out = tmp_path / "sample"
    with pytest.raises(SystemExit) as stop:
        main(["dashboard", "sample", str(out), *option])
    assert stop.value.code == ExitCode.USAGE
    assert f"argument {option[-2]}: must be at least 1, not {option[-1]}" in (
        capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.parametrize(("option", "said"), [
    (["--customers", "1000001"], "too many customers: --customers 1000001, at most 1,000,000"),
    (["--customers", "75758"],  # it has no --days: its fixed 30 named as such
     "too many rows: about 5,000,028 from --customers 75758 and 30 days at 2.2 rows"),
    (["--synthetic", "--rows", "5000001"], "must be at most 5000000")])
def test_dashboard_sample_refuses_a_size_past_the_generators_limits_creating_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str],
        said: str) -> None:
    out = tmp_path / "sample"
    try:
        code = main(["dashboard", "sample", str(out), *option])
    except SystemExit as stop:
        code = int(stop.code or 0)
    assert code == ExitCode.USAGE
    assert said in capsys.readouterr().err
    assert not out.exists()


def test_dashboard_sample_of_one_customer_is_made(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    assert main(["dashboard", "sample", str(out), "--customers", "1"]) == 0
    assert (out / "run.json").is_file()


@pytest.mark.parametrize("pbix", ["missing.pbix", "a folder", "a csv"])
def test_dashboard_screenshots_refuses_a_bad_pbix_before_creating_or_starting_anything(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        pbix: str) -> None:
    import auditstream.dashboard_cmd as cmd

    def no_browser(*args: object, **kwargs: object) -> None:
        raise AssertionError("a browser started before --pbix was checked")

    monkeypatch.setattr(cmd, "Chromium", no_browser)
    given = tmp_path / pbix
    if pbix == "a folder":
        given.mkdir()
    elif pbix == "a csv":
        given.write_text(HEADER)
    out = tmp_path / "shots"
    assert main(["dashboard", "screenshots", "--out", str(out), "--pbix", str(given)]) == 2
    assert f"--pbix {given}" in _error_line(capsys, "dashboard")
    assert not out.exists()


def test_the_largest_sample_the_generator_takes_is_not_refused() -> None:
    from auditstream.sample import sample_config

    assert sample_config(75_757).customers == 75_757  # 4,999,962 expected rows
    with pytest.raises(ValueError, match=r"too many rows: .*, at most 5,000,000"):
        sample_config(75_758)


@pytest.mark.parametrize("what", ["a file", "/dev/null"])
def test_dashboard_screenshots_into_a_file_is_a_usage_error_not_unwritable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        what: str) -> None:
    """`screenshots --out FILE` was exit 5 ("file exists; choose a folder you can write
    to"); an output that is a file is bad usage, exit 2, as for every other command."""
    import auditstream.dashboard_cmd as cmd

    monkeypatch.setattr(cmd, "Chromium", None)  # never reached
    out = tmp_path / "shots.png" if what == "a file" else Path(what)
    if what == "a file":
        out.write_bytes(b"kept")
    assert main(["dashboard", "screenshots", "--out", str(out), "--pbix", ""]) == 2
    assert f"{out} is not a folder" in _error_line(capsys, "dashboard")
    assert what != "a file" or out.read_bytes() == b"kept"


def test_dashboard_build_into_a_file_names_the_build_not_exports(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "project.txt"
    out.write_text("kept")
    assert main(["dashboard", "build", "--out", str(out), "--no-pbix"]) == 2
    line = _error_line(capsys, "dashboard")
    assert f"{out} is not a folder" in line and "dashboard build" in line
    assert "exports" not in line and out.read_text() == "kept"
