"""`-` for standard input or output is not taken by any command, and is refused alike: exit 2,
one line saying so and how to name a file called `-` (`./-`). No command can read or write
a stream: `score` and `replay` hash, re-read and compare their inputs (a file written to
while read is refused), `generate --out` writes beside its file and renames. Before,
`generate --out -` wrote a file named `-` (exit 0), `score -` scored such a file when there
was one, `review import -` read it, else each said "no such file"."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from auditstream.cli import main
from producer.settings import ProducerSettings
from shared.entry import stdio_refused
from shared.errors import ExitCode
from sink.settings import SinkSettings

GEN = ["generate", "--customers", "5", "--days", "2"]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder holding a valid input `in.csv` and a file literally named `-` (as
    the old `generate --out -` left), so `-` read as that file would succeed."""
    monkeypatch.chdir(tmp_path)
    assert main([*GEN, "--out", "in.csv"]) == ExitCode.OK
    (tmp_path / "-").write_bytes((tmp_path / "in.csv").read_bytes())
    (tmp_path / "r.csv").write_text("case_id,outcome\nc1,confirmed\n")
    return tmp_path


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """The last line `argv` printed, as argparse refused it (exit 2)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:  # argparse's usage error
        main(argv)
    assert exited.value.code == ExitCode.USAGE
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(("argv", "option", "noun"), [
    ([*GEN, "--out", "-"], "--out", "a file"),
    ([*GEN, "--mix", "extended", "--changes-out", "-", "--out", "x.csv"], "--changes-out",
     "a file"),
    (["score", "-", "--out", "o"], "INPUT.csv", "a file"),
    (["score", "in.csv", "-", "--out", "o"], "INPUT.csv", "a file"),
    (["score", "in.csv", "--out", "-"], "--out", "a folder"),
    (["score", "in.csv", "--out", "o", "--rejects-dir", "-"], "--rejects-dir", "a folder"),
    (["replay", "-"], "FILE.csv", "a file"),
    (["replay", "in.csv", "--rejects-dir", "-"], "--rejects-dir", "a folder"),
    (["review", "import", "-", "--no-check", "--dry-run"], "FILE", "a file"),
    (["sink", "--exports", "-"], "--exports", "a folder"),
    (["dashboard", "sample", "-"], "out", "a folder"),
    (["dashboard", "screenshots", "--pbix", "-"], "--pbix", "a file"),
])
def test_a_dash_is_refused_alike_exit_2_nothing_written(
        here: Path, capsys: pytest.CaptureFixture[str], argv: list[str], option: str,
        noun: str) -> None:
    before = sorted(p.name for p in here.iterdir())
    dash = (here / "-").read_bytes()
    line = _refused(capsys, argv)
    assert line.endswith(f"argument {option}: '-' (standard input or output) is not taken: "
                         f"name {noun} (./- for one named '-')"), line
    assert sorted(p.name for p in here.iterdir()) == before
    assert (here / "-").read_bytes() == dash


def test_dot_slash_dash_names_a_file_called_dash(here: Path) -> None:
    (here / "-").unlink()
    assert main([*GEN, "--seed", "7", "--out", "./-"]) == ExitCode.OK
    assert (here / "-").read_text().startswith("transaction_id,")
    assert main(["score", "./-", "--out", "o"]) == ExitCode.OK
    assert main(["score", "--out", "o2", "--", "-x"]) != ExitCode.OK  # any other name: a file


@pytest.mark.parametrize(("argv", "option", "cls", "field", "value"), [
    ([*GEN, "--out", "-"], "--out", ProducerSettings, "out", "-"),  # `file_name`
    (["replay", "-"], "FILE.csv", ProducerSettings, "files", ["-"]),  # `input_file`
    (["sink", "--exports", "-"], "--exports", SinkSettings, "exports_dir", "-"),  # a folder
])
def test_an_option_and_its_setting_refuse_a_dash_in_the_same_words(
        here: Path, capsys: pytest.CaptureFixture[str], argv: list[str], option: str,
        cls: type, field: str, value: object) -> None:
    # the three refusals (options, `NamedPath`, `InputName`) were worded apart: the options
    # said "give a file or folder name", the settings "name a folder" and "name a file"
    said = _refused(capsys, argv).partition(f"argument {option}: ")[2]
    with pytest.raises(ValidationError) as refused:
        cls(**{field: value})
    assert refused.value.errors()[0]["msg"].removeprefix("Value error, ") == said
    assert said in (stdio_refused("a file"), stdio_refused("a folder"))


def test_a_dash_among_the_replay_settings_files_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        ProducerSettings(files=["in.csv", "-"])
    assert refused.value.errors()[0]["msg"] == (
        "Value error, '-' (standard input or output) is not taken: name a file (./- for one "
        "named '-')")
    assert ProducerSettings(files=["./-"]).files == [Path("-")]


@pytest.mark.parametrize(("cls", "field", "rule"), [
    (ProducerSettings, "out", "name a file"),  # `--out`'s own check (`file_name`)
    (ProducerSettings, "rejects_dir", "name a folder"),
    (SinkSettings, "exports_dir", "name a folder")])
def test_a_dash_setting_is_refused_as_the_option(cls: type, field: str, rule: str) -> None:
    with pytest.raises(ValidationError) as refused:
        cls(**{field: "-"})
    assert refused.value.errors()[0]["msg"] == (
        f"Value error, '-' (standard input or output) is not taken: {rule} (./- for one "
        "named '-')")
    assert str(getattr(cls(**{field: "./-"}), field)) == "-"


@pytest.mark.parametrize("value", ["", " ", "\t"])
@pytest.mark.parametrize(("cls", "field"), [(ProducerSettings, "rejects_dir"),
                                            (SinkSettings, "exports_dir")])
def test_an_empty_folder_setting_is_refused(cls: type, field: str, value: str) -> None:
    """Not the working folder (`Path("")` is `.`): an unset variable of a compose file."""
    with pytest.raises(ValidationError) as refused:
        cls(**{field: value})
    assert refused.value.errors()[0]["msg"] == (
        "Value error, empty; name a folder, or unset the variable for its default")
