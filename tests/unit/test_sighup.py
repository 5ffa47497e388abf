"""SIGHUP (the terminal closed: an ssh session dropped, a terminal window shut) ends a batch
command as Ctrl-C and SIGTERM do, unless it is ignored (`nohup`), which it stays (hostile
probe, 2026-12-06, fifteenth). Before: it killed the command where it stood, exit 129 (a
code the README does not list): `generate --out` left its hidden `.tx.csv.*.tmp` behind,
`replay` printed no summary and dropped what librdkafka still held unsent."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from shared.startup import sigterm_interrupts
from tests.unit.producer_fakes import SignalOnProduce, publish_to


@pytest.fixture
def no_death_by_sighup() -> Iterator[list[int]]:
    """A SIGHUP the code does not take is only noted, so the test fails rather than its
    pytest process dying."""
    came: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: came.append(signum))
    try:
        yield came
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_sighup_interrupts_a_batch_command_and_its_handler_is_put_back(
        no_death_by_sighup: list[int]) -> None:
    before = signal.getsignal(signal.SIGHUP)
    with pytest.raises(KeyboardInterrupt), sigterm_interrupts():
        os.kill(os.getpid(), signal.SIGHUP)  # its handler runs as the call returns
    assert no_death_by_sighup == []
    assert signal.getsignal(signal.SIGHUP) is before


def test_an_ignored_sighup_stays_ignored(no_death_by_sighup: list[int]) -> None:
    """`nohup auditstream replay ...`: the command must outlive its terminal."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with sigterm_interrupts():
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGHUP)  # ignored: nothing raised, nothing noted
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    assert no_death_by_sighup == []


@pytest.mark.parametrize("ignored", [False, True])
def test_sighup_while_messages_are_handed_over_stops_between_two_and_counts_them(
        monkeypatch: pytest.MonkeyPatch, no_death_by_sighup: list[int], ignored: bool) -> None:
    from producer import app
    from producer.settings import ProducerSettings

    if ignored:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    publish_to(monkeypatch, SignalOnProduce(at=20, sig=signal.SIGHUP))
    records = [(datetime(2025, 1, 1), b"k", b"v")] * 50
    with sigterm_interrupts():
        report = app.publish(records, ProducerSettings(), len(records))
    assert no_death_by_sighup == []
    assert (report.interrupted, report.sent) == ((False, 50) if ignored else (True, 20))


def test_sighup_during_generate_out_leaves_no_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        no_death_by_sighup: list[int]) -> None:
    from auditstream.cli import main
    from shared.errors import ExitCode

    real_replace = os.replace

    def hang_up_then_replace(src: str, dst: str) -> None:  # the file is written, not renamed
        os.kill(os.getpid(), signal.SIGHUP)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", hang_up_then_replace)  # shared.atomic's rename
    code = main(["generate", "--customers", "3", "--days", "2", "--out",
                 str(tmp_path / "tx.csv")])
    assert no_death_by_sighup == []
    assert code == ExitCode.INTERRUPTED
    assert sorted(p.name for p in tmp_path.iterdir()) == []
