"""`python -m producer` (the compose stack's producer, settings from PRODUCER_*) refuses its
settings in their own names, in one line (hostile probe of the environment, 2026-12-06,
fifteenth). Before: `PRODUCER_RATE` and `PRODUCER_SPEED` both set was a ValueError traceback
("give --rate or --speed, not both"), exit 70, "a bug"; and its refusals named options of
`auditstream generate` the container does not have (`give --out FILE.csv and/or
--publish`), as its warnings did until `test_producer_container_warning.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from producer.__main__ import main
from producer.naming import OptionsRefused, as_option
from producer.settings import as_setting
from shared.errors import ExitCode

HEADER = ("transaction_id,customer_id,timestamp,amount,country,channel,device,"
          "merchant_category,ip\n")


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize(("rate", "speed", "code"), [
    ("1", "1", ExitCode.USAGE), ("0.5", "60", ExitCode.USAGE),
    ("1", None, ExitCode.KAFKA_UNREACHABLE), (None, "1", ExitCode.KAFKA_UNREACHABLE)])
def test_rate_and_speed_both_set_are_refused_naming_both(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        rate: str | None, speed: str | None, code: ExitCode) -> None:
    data = tmp_path / "tx.csv"
    data.write_text(HEADER + "1,c1,2025-01-01 10:00:00,12.5,CH,app,mobile,food,\n")
    monkeypatch.setenv("PRODUCER_MODE", "replay")
    monkeypatch.setenv("PRODUCER_FILES", f'["{data}"]')
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing listens
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "0.5")
    for name, value in (("PRODUCER_RATE", rate), ("PRODUCER_SPEED", speed)):
        if value is not None:
            monkeypatch.setenv(name, value)
    assert main([]) == code
    line = _one_line(capsys) if code == ExitCode.USAGE else ""
    if code == ExitCode.USAGE:  # one pace or none goes on to the broker (none answers here)
        assert line.startswith("python -m producer: error: PRODUCER_RATE and PRODUCER_SPEED")
        assert "--" not in line


@pytest.mark.parametrize(("settings", "names"), [
    ({"PRODUCER_PUBLISH": "false"}, ("PRODUCER_OUT=FILE.csv", "PRODUCER_PUBLISH=true")),
    ({"PRODUCER_RECIPE": "reference", "PRODUCER_MIX": "extended"},
     ("PRODUCER_MIX", "PRODUCER_RECIPE=reference")),
    ({"PRODUCER_START": "1969-12-31"}, ("PRODUCER_START=1969-12-31",)),
    ({"PRODUCER_START": "2100-12-01", "PRODUCER_DAYS": "32"},
     ("PRODUCER_START=2100-12-01", "PRODUCER_DAYS=32")),
    ({"PRODUCER_RECIPE": "reference", "PRODUCER_CUSTOMERS": "4"}, ("PRODUCER_CUSTOMERS",)),
])
def test_a_refusal_names_the_containers_settings_not_options(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        settings: dict[str, str], names: tuple[str, ...]) -> None:
    monkeypatch.setenv("PRODUCER_MODE", "generate")
    monkeypatch.setenv("PRODUCER_PUBLISH", "false")
    if not any(name.startswith("PRODUCER_OUT") for name in names):
        monkeypatch.setenv("PRODUCER_OUT", str(tmp_path / "tx.csv"))
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    assert main([]) == ExitCode.USAGE
    line = _one_line(capsys)
    assert line.startswith("python -m producer: error: ")
    for name in names:
        assert name in line, line
    # no option the container has a setting for (the generator's fixed knobs may be named)
    for flag in ("--out", "--publish", "--recipe", "--mix", "--start", "--days",
                 "--customers", "--seed", "--rate", "--speed"):
        assert flag not in line, line
    assert not (tmp_path / "tx.csv").exists()


def test_the_days_at_the_last_allowed_are_generated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound beside the refusal above: 2100-12-01 for 31 days ends on 2100-12-31."""
    for name, value in (("PRODUCER_MODE", "generate"), ("PRODUCER_PUBLISH", "false"),
                        ("PRODUCER_OUT", str(tmp_path / "tx.csv")), ("PRODUCER_CUSTOMERS", "3"),
                        ("PRODUCER_START", "2100-12-01"), ("PRODUCER_DAYS", "31")):
        monkeypatch.setenv(name, value)
    assert main([]) == ExitCode.OK
    assert (tmp_path / "tx.csv").exists()


def test_a_path_that_reads_like_an_option_is_shown_as_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # the checks name the options in the container's words as they write them; the message
    # is not rewritten afterwards (before: a regex over the whole line showed
    # `.../PRODUCER_DAYS=5/no/tx.csv` for a folder `--days 5`)
    out = tmp_path / "--days 5" / "no" / "tx.csv"
    out.parent.parent.mkdir()
    for name, value in (("PRODUCER_MODE", "generate"), ("PRODUCER_OUT", str(out))):
        monkeypatch.setenv(name, value)
    assert main([]) == ExitCode.USAGE
    line = _one_line(capsys)
    assert f"cannot write {out}: folder {out.parent} does not exist" in line, line


@pytest.mark.parametrize(("option", "value", "cli", "container"), [
    ("--start", "1969-12-31", "--start 1969-12-31", "PRODUCER_START=1969-12-31"),
    ("--days", "32", "--days 32", "PRODUCER_DAYS=32"),
    ("--rejects-dir", "r", "--rejects-dir r", "PRODUCER_REJECTS_DIR=r"),
    ("--mix", None, "--mix", "PRODUCER_MIX"),  # a setting named alone
    ("--publish", None, "--publish", "PRODUCER_PUBLISH=true"),  # a switch: as it is set
    ("--publish", "false", "--publish false", "PRODUCER_PUBLISH=false"),
    # fixed in the container: named as the command line names them
    ("--tx-per-day", None, "--tx-per-day", "--tx-per-day"),
    ("--transactions", "0", "--transactions 0", "--transactions 0"),
])
def test_each_caller_names_an_option_and_its_value_in_its_own_words(
        option: str, value: str | None, cli: str, container: str) -> None:
    assert as_option(option, value) == cli
    assert as_setting(option, value) == container
    if value is None:
        assert (as_option(option), as_setting(option)) == (cli, container)


def test_a_refusal_of_options_reads_in_the_command_lines_words_unless_named_otherwise() -> None:
    refused = OptionsRefused(lambda name: f"{name('--start', '1969-12-31')} is too early")
    assert str(refused) == "--start 1969-12-31 is too early"  # a plain ValueError's
    assert refused.words(as_setting) == "PRODUCER_START=1969-12-31 is too early"


@pytest.mark.parametrize(("settings", "says"), [
    # the generator's size limits were plain ValueErrors in its own words: "at most
    # 1,000,000 customers, not 2,000,000" named no setting (environment walk, seventeenth)
    ({"PRODUCER_CUSTOMERS": "2000000"},
     ("too many customers: PRODUCER_CUSTOMERS=2000000, at most 1,000,000",)),
    ({"PRODUCER_CUSTOMERS": "1000001"},
     ("too many customers: PRODUCER_CUSTOMERS=1000001, at most 1,000,000",)),
    # 1,000,000 passes the customers' bound, so the rows' is the one met: both settings named
    ({"PRODUCER_CUSTOMERS": "1000000"},
     ("too many rows: about 198,000,000 from PRODUCER_CUSTOMERS=1000000 and PRODUCER_DAYS=90",
      "at most 5,000,000")),
    ({"PRODUCER_CUSTOMERS": "100000", "PRODUCER_DAYS": "23"},  # 5.06 million rows at 2.2
     ("about 5,060,000 from PRODUCER_CUSTOMERS=100000 and PRODUCER_DAYS=23",
      "at most 5,000,000")),
])
def test_a_size_past_the_generators_limits_names_the_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        settings: dict[str, str], says: tuple[str, ...]) -> None:
    for name, value in (("PRODUCER_MODE", "generate"), ("PRODUCER_PUBLISH", "false"),
                        ("PRODUCER_OUT", str(tmp_path / "tx.csv")), *settings.items()):
        monkeypatch.setenv(name, value)
    assert main([]) == ExitCode.USAGE
    line = _one_line(capsys)
    assert line.startswith("python -m producer: error: "), line
    for said in says:
        assert said in line, line
    assert "--" not in line, line
    assert not (tmp_path / "tx.csv").exists()


def test_one_setting_the_reference_recipe_would_ignore_applies_not_apply(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in (("PRODUCER_MODE", "generate"), ("PRODUCER_PUBLISH", "false"),
                        ("PRODUCER_OUT", str(tmp_path / "tx.csv")),
                        ("PRODUCER_RECIPE", "reference"), ("PRODUCER_MIX", "extended")):
        monkeypatch.setenv(name, value)
    assert main([]) == ExitCode.USAGE
    assert "error: PRODUCER_MIX applies to the realistic recipe, not PRODUCER_RECIPE=reference" \
        in _one_line(capsys)


def test_a_run_too_small_for_one_row_names_only_the_containers_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """One customer for one day draws no row with seed 2 (seed 1 draws some). The line
    named `--tx-per-day or --transactions`, which the container fixes (environment walk)."""
    for name, value in (("PRODUCER_MODE", "generate"), ("PRODUCER_PUBLISH", "false"),
                        ("PRODUCER_OUT", str(tmp_path / "tx.csv")), ("PRODUCER_CUSTOMERS", "1"),
                        ("PRODUCER_DAYS", "1"), ("PRODUCER_SEED", "1")):
        monkeypatch.setenv(name, value)
    assert main([]) == ExitCode.OK
    capsys.readouterr()
    (tmp_path / "tx.csv").unlink()
    monkeypatch.setenv("PRODUCER_SEED", "2")
    assert main([]) == ExitCode.USAGE
    line = _one_line(capsys)
    assert line == ("python -m producer: error: these settings generate no transaction "
                    "(PRODUCER_CUSTOMERS=1 and PRODUCER_DAYS=1 at 2.2 rows a customer-day); "
                    "give more PRODUCER_CUSTOMERS or PRODUCER_DAYS; nothing written"), line
    assert not (tmp_path / "tx.csv").exists()


@pytest.mark.parametrize("start", [
    # pydantic read a number as Unix seconds: 86400 generated from 1970-01-02, exit 0,
    # where `generate --start` takes YYYY-MM-DD only (environment walk, seventeenth)
    "86400", "0", "1735689600",
    # refused before too, but in pydantic's words, never saying what is taken
    "20250101", "2025-01-01T10:00", "2025-W01-3", "", "-", "2025-13-01",
])
def test_a_start_that_is_not_a_plain_date_is_refused_as_the_option_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        start: str) -> None:
    for name, value in (("PRODUCER_MODE", "generate"), ("PRODUCER_PUBLISH", "false"),
                        ("PRODUCER_OUT", str(tmp_path / "tx.csv")), ("PRODUCER_CUSTOMERS", "3"),
                        ("PRODUCER_DAYS", "2"), ("PRODUCER_START", start)):
        monkeypatch.setenv(name, value)
    assert main([]) == ExitCode.USAGE
    line = _one_line(capsys)
    assert "invalid setting PRODUCER_START" in line, line
    assert f"not a date: {start!r} (use YYYY-MM-DD)" in line, line
    assert not (tmp_path / "tx.csv").exists()


@pytest.mark.parametrize(("setting", "value"), [
    ("PRODUCER_FILES", '["in.csv"]'), ("PRODUCER_RATE", "10"), ("PRODUCER_SPEED", "60"),
    ("PRODUCER_STRICT", "true"), ("PRODUCER_STRICT", "false"), ("PRODUCER_REJECTS_DIR", "."),
])
def test_a_replay_setting_in_generate_mode_is_refused_not_ignored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        setting: str, value: str) -> None:
    """Each was ignored without a word, the generated stream written (exit 0; environment
    walk, seventeenth), as `generate` refuses an option its recipe would ignore."""
    for name, given in (("PRODUCER_PUBLISH", "false"), ("PRODUCER_OUT", str(tmp_path / "tx.csv")),
                        ("PRODUCER_CUSTOMERS", "3"), ("PRODUCER_DAYS", "2"), (setting, value)):
        monkeypatch.setenv(name, given)
    assert main([]) == ExitCode.USAGE
    assert _one_line(capsys) == (
        f"python -m producer: error: {setting} applies to PRODUCER_MODE=replay, not "
        "PRODUCER_MODE=generate (the default); unset it, or set PRODUCER_MODE=replay")
    assert not (tmp_path / "tx.csv").exists()
    monkeypatch.delenv(setting)  # the same settings without it generate
    assert main([]) == ExitCode.OK


@pytest.mark.parametrize("files", ["", " ", "x", "/data/tx.csv", "[/data/tx.csv]"])
def test_files_that_are_not_json_are_named_by_their_setting(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], files: str) -> None:
    """The line said `error parsing value for field "files" from source
    "EnvSettingsSource"` and gave a detector setting as its example (environment walk)."""
    monkeypatch.setenv("PRODUCER_MODE", "replay")
    monkeypatch.setenv("PRODUCER_FILES", files)
    assert main([]) == ExitCode.USAGE
    line = _one_line(capsys)
    assert line.startswith("python -m producer: error: invalid setting PRODUCER_FILES: not "
                           "JSON ("), line
    assert "a list or object setting is JSON" in line and "DETECTOR" not in line, line


@pytest.mark.parametrize(("settings", "says"), [
    # wrote a file named ' ' in the working folder, exit 0 ("wrote  ")
    ({"PRODUCER_OUT": " "}, "invalid setting PRODUCER_OUT: Value error, ' ' is only blank space"),
    # "cannot read .: is a folder, not a CSV file": the empty name read as the working folder
    ({"PRODUCER_MODE": "replay", "PRODUCER_FILES": '[""]'},
     "invalid setting PRODUCER_FILES (item 1): Value error, an empty name; give a file"),
    ({"PRODUCER_MODE": "replay", "PRODUCER_FILES": '["in.csv", " "]'},
     "invalid setting PRODUCER_FILES (item 2): Value error, ' ' is only blank space"),
])
def test_an_empty_or_blank_file_name_is_refused_naming_the_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        settings: dict[str, str], says: str) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in (("PRODUCER_PUBLISH", "false"), *settings.items()):
        monkeypatch.setenv(name, value)
    assert main([]) == ExitCode.USAGE
    assert says in _one_line(capsys)
    assert list(tmp_path.iterdir()) == []
