"""`dashboard sample` on a full disk leaves no half sample: the folder as it was, or none.

Before (hostile probe, 2026-12-07, session 21), real processes under a file size limit
(`ulimit -f`, EFBIG: the same path through the code as ENOSPC): the realistic sample left
an empty `s/scored/` behind, the synthetic one 17 of its 30 day files and no table (a
folder Power BI or a later `dashboard report` reads as a sample), and over an earlier
sample a mix of the two runs; at 2,000 bytes the realistic one printed 60 lines of
`Exception ignored in: <generator object atomic_writer ...>` tracebacks around its error.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.unit.test_output_refused_named import EFBIG, TODO, _run

SYNTHETIC = ["--synthetic", "--rows", "3000"]
REALISTIC = ["--customers", "5"]
ERROR = f"auditstream dashboard: error: cannot write s: {EFBIG}; {TODO}"


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too) with its bytes; run.json's and
    status.csv's times differ from run to run, so they are compared by presence only."""
    return {p.relative_to(folder).as_posix(): (b"" if p.name in ("run.json", "status.csv")
                                               else p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_error_line(stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if " WARNING " not in line]
    assert lines == [ERROR], stderr[-2000:]


@pytest.mark.parametrize(("kind", "limit"), [
    (SYNTHETIC, 20_000), (REALISTIC, 20_000), (REALISTIC, 2_000),
], ids=["synthetic", "realistic", "realistic, first day file"])
def test_a_failed_sample_leaves_no_folder_it_created(
        tmp_path: Path, kind: list[str], limit: int) -> None:
    done = _run(tmp_path, limit, "dashboard", "sample", "s", *kind)
    assert done.returncode == 5, done.stderr[-800:]
    _one_error_line(done.stderr)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("first", "second"), [(REALISTIC, SYNTHETIC), (SYNTHETIC, REALISTIC)],
                         ids=["synthetic over realistic", "realistic over synthetic"])
def test_a_failed_sample_keeps_the_earlier_one_whole(
        tmp_path: Path, first: list[str], second: list[str]) -> None:
    assert _run(tmp_path, 10**8, "dashboard", "sample", "s", *first).returncode == 0
    before = _files(tmp_path / "s")
    assert len([name for name in before if name.startswith("scored/")]) >= 2
    done = _run(tmp_path, 20_000, "dashboard", "sample", "s", *second)
    assert done.returncode == 5, done.stderr[-800:]
    _one_error_line(done.stderr)
    assert _files(tmp_path / "s") == before


def test_a_sample_over_another_is_that_sample_alone(tmp_path: Path) -> None:
    """Whole, it replaces the earlier sample: no day file or table of the earlier run stays
    beside it (a synthetic sample over a realistic one kept its days and status.csv)."""
    assert _run(tmp_path, 10**8, "dashboard", "sample", "fresh", *SYNTHETIC).returncode == 0
    assert _run(tmp_path, 10**8, "dashboard", "sample", "s", *REALISTIC).returncode == 0
    assert "status.csv" in _files(tmp_path / "s")
    done = _run(tmp_path, 10**8, "dashboard", "sample", "s", *SYNTHETIC)
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout == "wrote s\n"
    assert _files(tmp_path / "s") == _files(tmp_path / "fresh")


def test_a_stage_a_killed_run_left_is_replaced_and_a_file_there_refused(tmp_path: Path) -> None:
    from auditstream.sample import STAGE, staged_sample
    from shared.errors import UsageError

    (tmp_path / STAGE / "scored").mkdir(parents=True)  # a sample killed while it wrote
    (tmp_path / STAGE / "cases.csv").write_text("half\n")
    with staged_sample(tmp_path) as stage:
        assert list(stage.iterdir()) == []
        (stage / "run.json").write_text("{}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "scored"]
    (tmp_path / STAGE).write_text("mine\n")
    with pytest.raises(UsageError, match="is a symbolic link or a file, not a folder"), \
            staged_sample(tmp_path):
        pass
    assert (tmp_path / STAGE).read_text() == "mine\n"


@pytest.mark.parametrize("taken", ["scored/transactions_scored_2025-01-02.csv", "cases.csv"])
def test_a_name_the_sample_moves_to_taken_while_it_is_made_is_refused_before_any_move(
        tmp_path: Path, taken: str) -> None:
    """A folder put at a day file's or a table's name while the sample was written: refused
    in one line before the first rename, the folder's earlier sample as it was."""
    from auditstream.sample import staged_sample
    from shared.errors import UsageError

    (tmp_path / "scored").mkdir()
    (tmp_path / "scored" / "transactions_scored_2025-01-01.csv").write_text("earlier\n")
    (tmp_path / "run.json").write_text("{}\n")
    before = _files(tmp_path)
    with pytest.raises(UsageError, match=rf"{taken} is a folder, not a regular file"), \
            staged_sample(tmp_path) as stage:
        (stage / "scored").mkdir()
        for day in ("2025-01-01", "2025-01-02"):
            (stage / "scored" / f"transactions_scored_{day}.csv").write_text("new\n")
        (stage / "run.json").write_text('{"new": 1}\n')
        (stage / "cases.csv").write_text("new\n")
        (tmp_path / taken).mkdir()
    (tmp_path / taken).rmdir()
    assert _files(tmp_path) == before


@pytest.mark.parametrize("kind", [SYNTHETIC, REALISTIC], ids=["synthetic", "realistic"])
def test_a_linked_scored_folder_is_refused_before_anything_is_written(
        tmp_path: Path, kind: list[str]) -> None:
    """scored/ a link to another folder: the day files would be written and deleted there
    (the synthetic sample wrote its 30 through it, exit 0)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "transactions_scored_2024-01-01.csv").write_text("theirs\n")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "scored").symlink_to(elsewhere)
    done = _run(tmp_path, 10**8, "dashboard", "sample", "s", *kind)
    assert done.returncode == 2, done.stderr[-800:]
    assert done.stderr.strip().splitlines()[-1].startswith(
        "auditstream dashboard: error: s/scored is a symbolic link or a file, not a folder")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["transactions_scored_2024-01-01.csv"]
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["scored"]


def test_ctrl_c_while_the_sample_is_moved_in_comes_after_the_last_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal between two renames ended the move there: new day files beside the
    earlier run's tables. Now it is held till the sample is in, then raised (exit 130)."""
    import signal

    from auditstream.sample import staged_sample

    (tmp_path / "scored").mkdir()
    (tmp_path / "scored" / "transactions_scored_2024-01-01.csv").write_text("old\n")
    (tmp_path / "cases.csv").write_text("old\n")
    replace = os.replace

    def and_ctrl_c(src: Path, dst: Path) -> None:
        replace(src, dst)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr("auditstream.sample.os.replace", and_ctrl_c)
    with pytest.raises(KeyboardInterrupt), staged_sample(tmp_path) as stage:
        (stage / "scored").mkdir()
        (stage / "scored" / "transactions_scored_2025-01-01.csv").write_text("new\n")
        (stage / "cases.csv").write_text("new\n")
    assert {p.relative_to(tmp_path).as_posix(): p.read_text()
            for p in tmp_path.rglob("*") if p.is_file()} == {
        "scored/transactions_scored_2025-01-01.csv": "new\n", "cases.csv": "new\n"}
