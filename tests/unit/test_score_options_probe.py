"""`auditstream score` run the careless way (hostile probe of its options, 2026-12-05): an
input that is one of the exports it is about to replace, one file given twice under two
names, a core setting past any integer the engine holds. Each is refused up front in one
line (exit 2), the folder and the input as they were."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditstream.cli import main
from detector.core import config as core_config
from detector.core.config import CoreConfig
from shared.csv_io import write_transactions_csv
from shared.schemas import Transaction
from tests.unit.test_core_engine import stream
from tests.unit.test_score_stream import _files

#: The bound (2^62, as max_customers' before it; read so this file runs on older code).
KNOB_MAX: int = getattr(core_config, "KNOB_MAX", 2**62)
TEST_KEY = "a-test-key-of-our-own"  # 21 characters: no warning of a public or short key


@pytest.fixture(scope="module")
def rows() -> list[Transaction]:
    return stream(n=400, customers=15, seed=11)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTS_SAMPLE_KEY", TEST_KEY)


def _scored(rows: list[Transaction], tmp_path: Path, single: bool) -> Path:
    """An exports folder of `rows` (with transactions_scored.csv if `single`)."""
    source = tmp_path / "in.csv"
    write_transactions_csv(rows, source)
    out = tmp_path / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPORTS_SINGLE_FILE", "true" if single else "false")
        assert main(["score", str(source), "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("which", ["a day file", "transactions_scored.csv",
                                   "a symlink to a day file"])
def test_an_input_that_is_one_of_the_exports_it_replaces_is_refused(
        rows: list[Transaction], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], which: str) -> None:
    """`score out/scored/<day>.csv --out out` replaced the folder's run by that one day's
    (every other day file deleted, the day itself rescored without its history) and
    `score out/transactions_scored.csv --out out` deleted its own input, both exit 0."""
    out = _scored(rows, tmp_path, single=which == "transactions_scored.csv")
    days = sorted((out / "scored").iterdir())
    assert len(days) >= 3
    given = (out / "transactions_scored.csv" if which == "transactions_scored.csv"
             else days[1])
    if which == "a symlink to a day file":
        (tmp_path / "link.csv").symlink_to(days[1])
        given = tmp_path / "link.csv"
    before = _files(out)
    capsys.readouterr()
    monkeypatch.setenv("EXPORTS_SINGLE_FILE", "false")
    assert main(["score", str(given), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditstream score: error: ") and "Traceback" not in err
    assert err.count("\n") == 1
    assert f"{given} is one of the exports of {out} this run would replace" in err
    assert _files(out) == before


def test_an_input_in_the_exports_folder_under_another_name_is_scored(
        rows: list[Transaction], tmp_path: Path) -> None:
    """Not every file in the folder is an export: an input kept there is read as any."""
    out = _scored(rows, tmp_path, single=False)
    kept = out / "in-copy.csv"
    kept.write_bytes((tmp_path / "in.csv").read_bytes())
    before = _files(out)
    assert main(["score", str(kept), "--out", str(out)]) == 0
    after = _files(out)
    assert after.pop("run.json") != before.pop("run.json")  # the input's name
    assert after == before


@pytest.mark.parametrize("how", ["a symlink", "a hard link"])
def test_one_file_given_twice_under_two_names_is_refused(
        rows: list[Transaction], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        how: str) -> None:
    """`score x.csv y.csv` with y.csv a link to x.csv read every row twice: all of the
    second's rejected as duplicates into y.rejects.csv, exit 1; the same file by the same
    name was already exit 2 ("given twice")."""
    source = tmp_path / "x.csv"
    write_transactions_csv(rows, source)
    alias = tmp_path / "y.csv"
    if how == "a symlink":
        alias.symlink_to(source)
    else:
        os.link(source, alias)
    out = tmp_path / "out"
    assert main(["score", str(source), str(alias), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditstream score: error: ") and err.count("\n") == 1
    assert f"{source} and {alias} are one file: give each file once" in err
    assert not out.exists() and not (tmp_path / "y.rejects.csv").exists()


INT_KNOBS = [name for name, f in CoreConfig.model_fields.items() if f.annotation is int]


@pytest.mark.parametrize("name", INT_KNOBS)
def test_an_integer_setting_past_the_engines_integers_is_refused(name: str) -> None:
    """DETECTOR_CORE__MIN_HISTORY=10**23 passed every `ge` and crashed the compiled kernel
    (numba `TypingError`, a traceback, exit 70); 2**63 made numba compile another kernel
    for unsigned integers (13 s). Refused at the bound and above, accepted below."""
    floor = CoreConfig.model_fields[name].default
    bounded = [m.le for m in CoreConfig.model_fields[name].metadata if hasattr(m, "le")]
    top = min([KNOB_MAX, *bounded])
    try:
        CoreConfig.model_validate({name: top})
    except ValueError as exc:  # a bound across knobs (the refit queue)
        assert "must be at most" in str(exc) or "seed" in str(exc)
    for big in (KNOB_MAX + 1, 2**63, 10**23):
        with pytest.raises(ValueError, match=name):
            CoreConfig.model_validate({name: big})
    assert CoreConfig.model_validate({name: floor}).model_dump()[name] == floor


#: Knobs that size arrays, and their bounds.
SIZED = {"max_seen": 256, "sample_size": 2**20, "n_trees": 1024, "max_samples": 2**16,
         "burst_min_count": 256, "max_population_keys": 2**20}


@pytest.mark.parametrize(("name", "top"), sorted(SIZED.items()))
def test_a_knob_that_sizes_arrays_is_bounded(name: str, top: int) -> None:
    """DETECTOR_CORE__MAX_SEEN=2**62 (as SAMPLE_SIZE, N_TREES, BURST_MIN_COUNT,
    MAX_POPULATION_KEYS) asked numpy for an array larger than it can address (ValueError,
    a traceback, exit 70); MAX_SEEN=100000 took 117 MB more for 30 customers (a gigabyte
    per 200), BURST_MIN_COUNT=100000 145 MB."""
    assert CoreConfig.model_validate({name: top}).model_dump()[name] == top
    for over in (top + 1, KNOB_MAX):
        with pytest.raises(ValueError, match=f"{name}\\n  Input should be less than or "
                           f"equal to {top}"):
            CoreConfig.model_validate({name: over})


@pytest.mark.parametrize("value", [str(10**23), str(2**62)])
def test_a_huge_setting_is_one_line_exit_2_for_score(
        rows: list[Transaction], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], value: str) -> None:
    source = tmp_path / "in.csv"
    write_transactions_csv(rows, source)
    name = "MIN_HISTORY" if len(value) > 19 else "MAX_SEEN"
    monkeypatch.setenv(f"DETECTOR_CORE__{name}", value)
    assert main(["score", str(source), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditstream score: error: invalid setting "
                          f"DETECTOR_CORE__{name}") and "Traceback" not in err
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_the_largest_accepted_setting_scores_alike_on_both_cores(
        rows: list[Transaction]) -> None:
    """At the bound the kernel and the Python core agree (one compiled kernel, int64)."""
    from detector.core import compiled
    from detector.offline import score_transactions
    if not compiled.kernel_wanted():
        pytest.skip("the compiled kernel is not in use")
    config = CoreConfig(min_history=KNOB_MAX, new_country_min_history=KNOB_MAX)
    kernel = score_transactions(rows, config)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDITSTREAM_CORE", "python")
        assert not compiled.kernel_wanted()
        python = score_transactions(rows, config)
    assert [r.model_dump() for r in kernel] == [r.model_dump() for r in python]


@pytest.mark.parametrize("theirs", ["report.html", "cases.csv", "status.csv", "run.json"])
def test_a_folder_of_other_files_at_export_names_is_refused(
        rows: list[Transaction], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        theirs: str) -> None:
    """`score data.csv --out .` in a working folder (or `--out /` as root) replaced the
    user's own report.html or cases.csv with the exports', exit 0. A folder without
    exports (no run.json, no sink state, no day file) holding a file at an export's name
    is refused, nothing written in it (not even the lock)."""
    work = tmp_path / "work"
    work.mkdir()
    source = work / "data.csv"
    write_transactions_csv(rows, source)
    (work / theirs).write_text("the user's own\n")
    (work / "notes.txt").write_text("notes\n")
    before = {p.name: p.read_bytes() for p in work.iterdir()}
    assert main(["score", str(source), "--out", str(work)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditstream score: error: ") and err.count("\n") == 1
    assert f"{work} holds {theirs} but no exports (no run.json, sink checkpoint" in err
    assert {p.name: p.read_bytes() for p in work.iterdir()} == before


def test_a_working_folder_without_files_at_export_names_is_scored_into(
        rows: list[Transaction], tmp_path: Path) -> None:
    """The input's own folder, other files in it: the exports beside them, each untouched;
    scored again, the earlier run (run.json) makes it an exports folder."""
    work = tmp_path / "work"
    work.mkdir()
    source = work / "data.csv"
    write_transactions_csv(rows, source)
    (work / "notes.txt").write_text("notes\n")
    for _ in range(2):
        assert main(["score", str(source), "--out", str(work)]) == 0
        assert (work / "notes.txt").read_text() == "notes\n"
        assert len(list((work / "scored").iterdir())) >= 3


def _compressed(kind: str, source: Path, tmp_path: Path) -> Path:
    import bz2
    import gzip
    import lzma
    import zipfile
    data = source.read_bytes()
    path = tmp_path / f"data.csv.{kind}"
    if kind == "zip":  # stored, not deflated: the CSV's own bytes inside the archive
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
            z.writestr("data.csv", data)
    elif kind == "gz":
        path.write_bytes(gzip.compress(data))
    elif kind == "bz2":
        path.write_bytes(bz2.compress(data))
    else:
        path.write_bytes(lzma.compress(data))
    return path


@pytest.mark.parametrize(("kind", "what"), [
    ("gz", "gzip"), ("bz2", "bzip2"), ("xz", "xz"),
    ("zip", "a zip archive (an Excel .xlsx workbook is one)")])
def test_a_compressed_input_is_named_as_such(
        rows: list[Transaction], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        kind: str, what: str) -> None:
    """`score data.csv.gz` said "line 1: byte 0x9D is neither UTF-8 nor Windows-1252 ...
    save it again as CSV UTF-8" (a zip at line 418): true, but not what to do."""
    source = tmp_path / "data.csv"
    write_transactions_csv(rows[:5], source)
    given = _compressed(kind, source, tmp_path)
    out = tmp_path / "out"
    assert main(["score", str(given), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditstream score: error: ") and err.count("\n") == 1
    expected = (f"cannot read {given}: it is {what}, not a CSV file; "
                + ("save the sheet as CSV UTF-8" if kind == "zip" else "decompress it first"))
    assert expected in err
    assert not (out / "run.json").exists()


@pytest.mark.parametrize("how", ["deleted", "renamed"])
def test_an_input_removed_while_it_is_scored_is_refused_and_the_exports_kept(
        rows: list[Transaction], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], how: str) -> None:
    """An input deleted or moved away (a cleanup job, a rotation) while score read it was
    FileNotFoundError at the end of the read: a traceback, exit 70. Now as an input
    changed while read: exit 2 in one line, the folder's earlier run kept."""
    from detector import offline
    from tests.unit.test_score_hostile import _changing
    out = _scored(rows, tmp_path, single=False)
    source = tmp_path / "in.csv"
    before = _files(out)
    capsys.readouterr()

    def remove() -> None:
        if how == "deleted":
            source.unlink()
        else:
            source.rename(tmp_path / "moved.csv")

    monkeypatch.setattr(offline, "verdict_batches", _changing(remove))
    assert main(["score", str(source), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditstream score: error: ") and err.count("\n") == 1
    assert f"{source} was removed or renamed while it was read, the exports not finished" in err
    assert _files(out) == before
