"""What a killed writer leaves (`shared.atomic`'s hidden temporary files) is removed, and
what a live writer is still writing never is, whichever process or thread writes it."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared.atomic import atomic_path, atomic_write_bytes, atomic_writer, remove_temporaries

ROOT = Path(__file__).resolve().parents[2]

#: A writer in its own process: writes half of TARGET through `atomic_writer`, says where
#: (the temporary file's path), then finishes when told (a line on stdin) or is killed.
_WRITER = """
import sys
from pathlib import Path
from shared.atomic import atomic_path
with atomic_path(Path(sys.argv[1])) as tmp:
    with open(tmp, "wb") as fh:
        fh.write(b"first half,")
        fh.flush()
        print(tmp, flush=True)
        sys.stdin.readline()
        fh.write(b"second half\\n")
print("done", flush=True)
"""


@contextmanager
def writer_process(target: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A live writer of `target` in another process, stopped half-way; yields it and its
    temporary file. Leaving the block kills it if it still runs."""
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line, "the writer process did not start"
        yield proc, Path(line)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def killed_writer_leftover(target: Path) -> Path:
    """The temporary file a writer of `target` leaves when SIGKILLed mid-write (really
    killed: the file is what such a kill leaves, not an imitation)."""
    before = target.read_bytes() if target.exists() else None
    with writer_process(target) as (proc, tmp):
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    assert tmp.read_bytes() == b"first half,"
    assert (target.read_bytes() if target.exists() else None) == before  # untouched
    return tmp


def finish(proc: subprocess.Popen[str]) -> str:
    """Let a `writer_process` finish; return what it printed last."""
    out, _ = proc.communicate("\n", timeout=30)
    assert proc.returncode == 0, out
    return out.strip()


def test_a_killed_writers_temporary_is_removed_a_live_writers_is_kept(tmp_path: Path) -> None:
    """Two writers sharing a folder without its lock (a `dashboard report`, a `review
    import` whose rejects land there): the one killed leaves its temporary file, which is
    removed; the live one's is not, and it finishes writing its file whole."""
    stale = killed_writer_leftover(tmp_path / "cases.csv")
    with writer_process(tmp_path / "cases.rejects.csv") as (live, live_tmp):
        assert remove_temporaries(tmp_path) == [stale]
        assert not stale.exists()
        assert live_tmp.read_bytes() == b"first half,"
        assert finish(live) == "done"
    assert (tmp_path / "cases.rejects.csv").read_bytes() == b"first half,second half\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.rejects.csv"]


@pytest.mark.parametrize("how", ["path", "writer"])
def test_a_temporary_this_process_is_writing_is_kept(tmp_path: Path, how: str) -> None:
    """A remover and a writer in one process (threads) exclude each other the same way."""
    target = tmp_path / "report.html"
    if how == "path":
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"<html>")
            assert remove_temporaries(tmp_path) == []
    else:
        with atomic_writer(target) as fh:
            fh.write(b"<html>")
            assert remove_temporaries(tmp_path) == []
    assert target.read_bytes() == b"<html>"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_remover_between_creation_and_lock_makes_the_writer_take_another_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer creates its temporary file, then locks it. A remover that comes in
    between removes the file (unlocked: it cannot tell it from a killed writer's), or holds
    it while it decides; the writer must notice both and use a new file, which a later
    remover leaves alone."""
    real_mkstemp = tempfile.mkstemp
    made: list[str] = []
    held: list[int] = []

    def racing_mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        fd, name = real_mkstemp(*args, **kwargs)  # type: ignore[call-overload]
        made.append(name)
        if len(made) == 1:  # a remover runs now and removes the new, unlocked file
            assert remove_temporaries(tmp_path) == [Path(name)]
        elif len(made) == 2:  # a remover has just locked it and is deciding
            theirs = os.open(name, os.O_RDONLY)
            fcntl.flock(theirs, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held.append(theirs)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", racing_mkstemp)  # the one shared.atomic calls
    target = tmp_path / "status.csv"
    with atomic_path(target) as tmp:
        assert len(made) == 3 and tmp == Path(made[2])
        os.close(held.pop())  # that remover lets go (it would have unlinked the file)
        Path(made[1]).unlink()
        tmp.write_bytes(b"rows\n")
        assert remove_temporaries(tmp_path) == []  # the file in use is locked
    assert target.read_bytes() == b"rows\n"
    assert [p.name for p in tmp_path.iterdir()] == ["status.csv"]


def test_writers_and_removers_running_together_lose_no_write(tmp_path: Path) -> None:
    """Threads replacing files while another removes temporaries again and again: every
    write lands whole, no writer fails, nothing is left behind."""
    stop = threading.Event()
    failures: list[BaseException] = []
    removed: list[Path] = []

    def remover() -> None:
        while not stop.is_set():
            removed.extend(remove_temporaries(tmp_path))

    def writer(k: int) -> None:
        try:
            for i in range(150):
                atomic_write_bytes(tmp_path / f"f{k}.csv", f"{k},{i}\n".encode(),
                                   durable=False)
                assert (tmp_path / f"f{k}.csv").read_bytes() == f"{k},{i}\n".encode()
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=remover)]
    threads += [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join(60)
    stop.set()
    threads[0].join(60)
    assert failures == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0.csv", "f1.csv", "f2.csv"]
    assert [(tmp_path / f"f{k}.csv").read_text() for k in range(3)] == [
        f"{k},149\n" for k in range(3)]


def test_only_regular_files_named_as_temporaries_are_removed(tmp_path: Path) -> None:
    """Other names, folders, symbolic links (not followed) and a FIFO (opening it must not
    hang) named like a temporary file stay."""
    outside = tmp_path.parent / f"{tmp_path.name}-outside.csv"
    outside.write_text("kept")
    kept = [tmp_path / "notes.tmp", tmp_path / ".keep.tmp", tmp_path / ".x.csv.toolongname.tmp"]
    for path in kept:
        path.write_text("x")
    (tmp_path / ".dir.csv.abcd1234.tmp").mkdir()
    (tmp_path / ".link.csv.abcd1234.tmp").symlink_to(outside)
    os.mkfifo(tmp_path / ".fifo.csv.abcd1234.tmp")
    stale = tmp_path / ".run.json.abcd_234.tmp"
    stale.write_text("half")
    assert remove_temporaries(tmp_path) == [stale]
    assert outside.read_text() == "kept"
    assert len(list(tmp_path.iterdir())) == 6
    assert remove_temporaries(tmp_path / "missing") == []
