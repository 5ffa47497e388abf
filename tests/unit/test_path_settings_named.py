"""A path setting that cannot be used is refused naming its environment variable (helper
session 18, bounds18: each path setting given a file where a folder is due, a folder where a
file is due, a path through a file, a folder that is not there, blank). Before, the line
named the path alone (`python -m sink: error: afile is not a folder; ...`), in a container
where no option was typed; `DETECTOR_STATE_DIR` naming a file was only warned of at the
start (`ignoring unreadable failure count ...: Not a directory`) and the detector ran on
without the poison-pill count its restarts need."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from auditstream.cli import main
from detector.settings import DetectorSettings
from producer.__main__ import main as producer_main
from shared.errors import ExitCode, UsageError
from shared.outputs import check_folder_path
from sink.__main__ import main as sink_main

HEADER = ("transaction_id,customer_id,timestamp,amount,country,channel,device,"
          "merchant_category,ip\n")


def _one_line(capsys: pytest.CaptureFixture[str], prog: str) -> str:
    err = [line for line in capsys.readouterr().err.strip().splitlines()
           if " INFO " not in line]
    assert len(err) == 1 and err[0].startswith(f"{prog}: error: "), err
    return err[0].removeprefix(f"{prog}: error: ")


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file `afile`, a folder `adir`, a CSV `in.csv`; the working folder; no broker."""
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    (tmp_path / "in.csv").write_text(HEADER + "1,c1,2025-01-01 00:00:00,1.0,CH,app,pc,fuel,\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    for wait in ("KAFKA_STARTUP_WAIT_S", "DETECTOR_STARTUP_WAIT_S", "SINK_STARTUP_WAIT_S"):
        monkeypatch.setenv(wait, "0.5")
    return tmp_path


@pytest.mark.parametrize("state_dir", ["afile", "afile/sub"])
def test_a_state_dir_that_is_a_file_or_through_one_is_refused_naming_it(
        tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        state_dir: str) -> None:
    monkeypatch.setenv("DETECTOR_STATE_DIR", state_dir)
    started = time.monotonic()
    assert main(["detect", "--instance-id", "t"]) == ExitCode.USAGE
    line = _one_line(capsys, "auditstream detect")
    assert line.startswith("DETECTOR_STATE_DIR: afile is not a folder"), line
    assert time.monotonic() - started < 20  # before any client: no broker wait
    assert (tree / "afile").read_text() == "x"


def test_a_state_dir_not_there_yet_is_still_taken(
        tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DETECTOR_STATE_DIR", "adir/new/state")
    assert main(["detect", "--instance-id", "t"]) == ExitCode.KAFKA_UNREACHABLE  # went on
    check_folder_path(DetectorSettings(instance_id="t").state_dir)


@pytest.mark.parametrize(("folder", "says"), [
    ("afile", "SINK_EXPORTS_DIR: afile is not a folder"),
    ("afile/x", "SINK_EXPORTS_DIR: cannot write afile/x: afile is not a folder"),
    ("nosuch/x", "SINK_EXPORTS_DIR: cannot write nosuch/x: folder nosuch does not exist"),
])
def test_an_exports_folder_setting_that_cannot_be_used_is_named(
        tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        folder: str, says: str) -> None:
    monkeypatch.setenv("SINK_EXPORTS_DIR", folder)
    assert sink_main([]) == ExitCode.USAGE
    assert _one_line(capsys, "python -m sink").startswith(says)
    # the option names itself: no variable was used
    assert sink_main(["--exports", folder]) == ExitCode.USAGE
    assert _one_line(capsys, "python -m sink").startswith(says.removeprefix("SINK_EXPORTS_DIR: "))


@pytest.mark.parametrize(("settings", "says"), [
    ({"PRODUCER_OUT": "adir", "PRODUCER_PUBLISH": "false"}, "PRODUCER_OUT: adir is a folder"),
    ({"PRODUCER_OUT": "afile/x.csv", "PRODUCER_PUBLISH": "false"},
     "PRODUCER_OUT: cannot write afile/x.csv: afile is not a folder"),
    ({"PRODUCER_OUT": "nosuch/x.csv", "PRODUCER_PUBLISH": "false"},
     "PRODUCER_OUT: cannot write nosuch/x.csv: folder nosuch does not exist"),
    ({"PRODUCER_MODE": "replay", "PRODUCER_FILES": '["adir"]'},
     "PRODUCER_FILES: cannot read adir: is a folder"),
    ({"PRODUCER_MODE": "replay", "PRODUCER_FILES": '["in.csv", "nosuch.csv"]'},
     "PRODUCER_FILES: cannot read nosuch.csv: no such file"),
    ({"PRODUCER_MODE": "replay", "PRODUCER_FILES": '["in.csv"]', "PRODUCER_REJECTS_DIR": "afile"},
     "PRODUCER_REJECTS_DIR: afile is not a folder"),
    ({"PRODUCER_MODE": "replay", "PRODUCER_FILES": '["in.csv"]',
      "PRODUCER_REJECTS_DIR": "afile/x"},
     "PRODUCER_REJECTS_DIR: cannot write afile/x: afile is not a folder"),
])
def test_a_producer_path_setting_that_cannot_be_used_is_named(
        tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        settings: dict[str, str], says: str) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PRODUCER_CUSTOMERS", "50")
    monkeypatch.setenv("PRODUCER_DAYS", "2")
    assert producer_main([]) == ExitCode.USAGE
    assert _one_line(capsys, "python -m producer").startswith(says)


def test_check_folder_path_names_the_part_that_is_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    check_folder_path(tmp_path / "a" / "b")  # not there: made later
    check_folder_path(tmp_path)
    for folder in (tmp_path / "f", tmp_path / "f" / "a" / "b"):
        with pytest.raises(UsageError, match=f"^{tmp_path / 'f'} is not a folder"):
            check_folder_path(folder)
