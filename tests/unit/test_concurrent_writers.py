"""Two writers of the same file or folder at once never leave a torn or foreign file.

Every writer replaces its files through `shared.atomic` (its own locked temporary file, then
a rename), and a writer of a whole exports folder takes the folder's lock as the sink and
`score` do. Before: `dashboard sample` wrote into any folder without the lock (into a running
sink's folder it replaced the day files the sink appends to); its synthetic variant, the
PBIP project of `dashboard build`, `generate --changes-out` wrote in place (a reader or a
kill saw half a file); the detector's failure count went through one fixed `.tmp` name, so
two processes moved each other's half-written file into place or failed the rename.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditstream.cli import main as cli_main
from dashboard.pbir import report_files
from dashboard.spec import NAME
from dashboard.tmdl import semantic_model_files
from shared.errors import ExitCode
from shared.folderlock import FolderLock

ROOT = Path(__file__).resolve().parents[2]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".sink.lock"}


@pytest.mark.parametrize("holder", ["sink", "score", "dashboard sample"])
@pytest.mark.parametrize("synthetic", [True, False])
def test_a_sample_into_a_folder_another_writer_holds_exits_6_and_changes_nothing(
    tmp_path: Path, holder: str, synthetic: bool, capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "exports"
    (folder / "scored").mkdir(parents=True)
    (folder / "scored" / "transactions_scored_2025-01-01.csv").write_text("the sink's rows\n")
    (folder / "cases.csv").write_text("the sink's cases\n")
    before = _files(folder)
    args = ["dashboard", "sample", str(folder)]
    small = ["--synthetic", "--rows", "50"]
    with FolderLock(folder, holder):  # as a running sink (or score, or sample) holds it
        code = cli_main([*args, *small] if synthetic else [*args, "--customers", "5"])
    err = capsys.readouterr().err
    assert code == ExitCode.LOCKED, err
    assert err.startswith("auditstream dashboard: error: ")
    assert f"pid {os.getpid()} ({holder})" in err
    assert _files(folder) == before
    # Once the folder is free the same command writes it, and leaves no lock held.
    assert cli_main([*args, *small]) == 0
    assert (folder / "run.json").exists()
    FolderLock(folder).acquire().release()  # raises LockedError if it were still held


def _hammer(code: str, *args: str, count: int = 2) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return [subprocess.Popen([sys.executable, "-c", code, str(i), *args], env=env, cwd=ROOT,
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for i in range(count)]


def _read_while_running(writers: list[subprocess.Popen[str]], paths: list[Path],
                        ok: dict[Path, set[bytes]]) -> int:
    """Read `paths` over and over while the writers run; every read must be one of `ok`."""
    reads = 0
    deadline = time.monotonic() + 120
    while any(w.poll() is None for w in writers) and time.monotonic() < deadline:
        for path in paths:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            assert data in ok[path], f"{path.name}: a torn or foreign file: {data[:200]!r}"
            reads += 1
    return reads


def _finished(writers: list[subprocess.Popen[str]]) -> list[str]:
    errs = []
    for w in writers:
        _, err = w.communicate(timeout=60)
        assert w.returncode == 0, err
        errs.append(err)
    return errs


CIRCUIT_WRITER = """
import sys
from pathlib import Path
from detector.circuit import FailureCircuit
me, path = int(sys.argv[1]), Path(sys.argv[2])
circuit = FailureCircuit(path, limit=10**9)
for i in range(400):
    circuit.failed(me, i, ValueError("x" * 3000))  # each a new offset: count 1
"""


def test_two_processes_keeping_one_failure_count_never_tear_it_nor_lose_a_save(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state" / "auditstream-detector-host.failures.json"
    path.parent.mkdir()
    writers = _hammer(CIRCUIT_WRITER, str(path))
    # Whole files only: each one a writer's record of one of its offsets.
    ok = {path: {json.dumps({"partition": p, "offset": i, "count": 1,
                             "error": "ValueError: " + "x" * 1988, "record": True}).encode()
                 for p in (0, 1) for i in range(400)}}
    _read_while_running(writers, [path], ok)
    for err in _finished(writers):
        assert "could not keep the failure count" not in err, err
    assert path.read_bytes() in ok[path]
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary left


PBIP_WRITER = """
import sys
from pathlib import Path
from dashboard.pbir import write_report_definition
from dashboard.tmdl import write_semantic_model
root = Path(sys.argv[2])
for _ in range(15):
    write_semantic_model(root)
    write_report_definition(root)
"""


def test_two_builds_of_one_pbip_project_never_show_half_a_file(tmp_path: Path) -> None:
    model = tmp_path / f"{NAME}.SemanticModel"
    report = tmp_path / f"{NAME}.Report"
    ok = {model / rel: {text.encode()} for rel, text in semantic_model_files().items()}
    ok |= {report / rel: {(json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()}
           for rel, data in report_files().items()}
    writers = _hammer(PBIP_WRITER, str(tmp_path))
    _read_while_running(writers, sorted(ok), ok)
    _finished(writers)
    assert {p: {p.read_bytes()} for p in ok} == ok
    left = [p for p in tmp_path.rglob("*.tmp")]
    assert left == []


CHANGES_WRITER = """
import sys
from datetime import datetime
from pathlib import Path
from producer.extended import Change, write_changes
me, path = int(sys.argv[1]), Path(sys.argv[2])
changes = [Change(-1, f"kind-of-writer-{me}", s, None) for s in range(2000)]
for _ in range(30):
    write_changes(path, changes, datetime(2025, 1, 1), [])
"""


def test_two_generate_changes_out_at_once_leave_one_writers_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "changes.csv"
    writers = _hammer(CHANGES_WRITER, str(path))
    seen = _read_while_running(writers, [path], {path: {
        b"".join(_changes_bytes(me)) for me in (0, 1)}})
    _finished(writers)
    assert seen > 0 and path.read_bytes() in {b"".join(_changes_bytes(me)) for me in (0, 1)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["changes.csv"]


def _changes_bytes(me: int) -> list[bytes]:
    from producer.extended import CHANGE_COLUMNS

    head = (",".join(CHANGE_COLUMNS) + "\n").encode()
    rows = [f"*,kind-of-writer-{me},2025-01-01T{s // 3600:02d}:{s % 3600 // 60:02d}:"
            f"{s % 60:02d},\n".encode() for s in range(2000)]
    return [head, *rows]


def test_a_build_into_a_folder_another_build_holds_exits_6_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A second `dashboard build` into the folder would remove the PBIP folders while the
    first writes them (dashboard.build.write_pbip): a missing file or a traceback."""
    out = tmp_path / "project"
    with FolderLock(out, "dashboard build"):
        code = cli_main(["dashboard", "build", "--out", str(out), "--no-pbix"])
    err = capsys.readouterr().err
    assert code == ExitCode.LOCKED and f"pid {os.getpid()} (dashboard build)" in err, err
    assert _files(out) == {}
    assert cli_main(["dashboard", "build", "--out", str(out), "--no-pbix"]) == 0
    assert (out / f"{NAME}.pbip").exists() and (out / f"{NAME}.SemanticModel").is_dir()
