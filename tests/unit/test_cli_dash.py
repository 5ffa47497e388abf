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


@pytest.mark.parametrize(("argv", "option"), [
    ([*GEN, "--out", "-"], "--out"),
    ([*GEN, "--mix", "extended", "--changes-out", "-", "--out", "x.csv"], "--changes-out"),
    (["score", "-", "--out", "o"], "INPUT.csv"),
    (["score", "in.csv", "-", "--out", "o"], "INPUT.csv"),
    (["score", "in.csv", "--out", "-"], "--out"),
    (["score", "in.csv", "--out", "o", "--rejects-dir", "-"], "--rejects-dir"),
    (["replay", "-"], "FILE.csv"),
    (["replay", "in.csv", "--rejects-dir", "-"], "--rejects-dir"),
    (["review", "import", "-", "--no-check", "--dry-run"], "FILE"),
    (["sink", "--exports", "-"], "--exports"),
    (["dashboard", "sample", "-"], "out"),
    (["dashboard", "screenshots", "--pbix", "-"], "--pbix"),
])
def test_a_dash_is_refused_alike_exit_2_nothing_written(
        here: Path, capsys: pytest.CaptureFixture[str], argv: list[str], option: str) -> None:
    before = sorted(p.name for p in here.iterdir())
    dash = (here / "-").read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:  # argparse's usage error
        main(argv)
    assert exited.value.code == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(f"argument {option}: '-' (standard input or output) is not "
                            "taken: give a file or folder name (./- for one named '-')"), err
    assert sorted(p.name for p in here.iterdir()) == before
    assert (here / "-").read_bytes() == dash


def test_dot_slash_dash_names_a_file_called_dash(here: Path) -> None:
    (here / "-").unlink()
    assert main([*GEN, "--seed", "7", "--out", "./-"]) == ExitCode.OK
    assert (here / "-").read_text().startswith("transaction_id,")
    assert main(["score", "./-", "--out", "o"]) == ExitCode.OK
    assert main(["score", "--out", "o2", "--", "-x"]) != ExitCode.OK  # any other name: a file


def test_a_dash_among_the_replay_settings_files_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        ProducerSettings(files=["in.csv", "-"])
    assert refused.value.errors()[0]["msg"] == (
        "Value error, '-' (standard input or output) is not taken: name a file (./- for one "
        "named '-')")
    assert ProducerSettings(files=["./-"]).files == [Path("-")]


@pytest.mark.parametrize(("cls", "field", "rule"), [
    (ProducerSettings, "out", "give a file or folder name"),  # `--out`'s own check
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
