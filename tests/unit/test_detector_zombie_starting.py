"""A process stopped while it started (SIGSTOP, a frozen VM: in its imports or the core's
load, before its producer existed) while its supervisor started a newer process with its
instance id. Woken, it must leave the id to that process (exit 2) before its own
init_transactions fences it. Found by bench/chaos_soak.py (seed 700, 2026-12-07): detector
d1 paused 74 s a second or so into its start, replaced meanwhile; woken, it started as if
new, its producer fenced the replacement's, and both ran on to the end (the replacement
would have exited 2, fenced, at its next transaction: the process the supervisor gave up
on kept the id)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detector.app import DetectorError
from detector.kafka_io import MEMBERS_TIMEOUT_S, member_client_id
from detector.metrics import Watchdog
from shared.errors import ExitCode
from tests.unit.detector_fakes import FakeCluster, cluster_with, fake_detector

SESSION_MS = 10_000
#: A session and the members' timeout: a member of a process killed before this one
#: started has expired once it is this old.
WINDOW = SESSION_MS / 1000 + MEMBERS_TIMEOUT_S
NEWER = "member-of-the-newer-process"


def start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, born: tuple[float, float] | None,
          others: list[str] | None, paused: bool = False) -> tuple[FakeCluster, list[int]]:
    """Start a fake detector born `born` (age, stopped s); its group lists a member of each
    client id in `others` (`"me"`: its own client id; None: the cluster does not answer).
    `paused`: its watchdog sees a pause from the start-up on. The group's descriptions
    asked are counted (each could abort the process: librdkafka #4605)."""
    cluster = cluster_with(5)
    asked: list[int] = []
    monkeypatch.setattr(Watchdog, "paused_within",
                        lambda self, seconds, since=None: paused)

    def members(s: Any, *a: Any, **k: Any) -> list[tuple[str, str]] | None:
        asked.append(1)
        if others is None:
            return None
        return [(member_client_id(s) if c == "me" else c, f"{NEWER}-{i}")
                for i, c in enumerate(others)]

    fake_detector(monkeypatch, cluster, born=born, members=members, state_dir=tmp_path,
                  session_timeout_ms=SESSION_MS)
    return cluster, asked


@pytest.mark.parametrize("stopped", [WINDOW, WINDOW + 60])
def test_stopped_while_starting_and_replaced_leaves_the_id_before_fencing_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stopped: float
) -> None:
    made: list[int] = []
    real = FakeCluster.producer

    def producer(self: FakeCluster) -> Any:
        made.append(1)
        return real(self)

    monkeypatch.setattr(FakeCluster, "producer", producer)
    with pytest.raises(DetectorError, match="leaves the id to it") as info:
        start(monkeypatch, tmp_path, (stopped + 1, stopped), ["auditstream-other", "me"])
    assert info.value.exit_code == ExitCode.USAGE  # 2: not restarted (systemd)
    assert "was stopped while it started" in str(info.value)
    assert made == []  # no init_transactions: the newer process is not fenced


def test_stopped_just_under_a_session_and_the_members_timeout_asks_no_group(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A member with its id may still be a process killed just before this one started
    (a restart after kill -9): not asked, the start goes on and fences that one."""
    cluster, asked = start(monkeypatch, tmp_path, (WINDOW + 1, WINDOW - 0.01), ["me"])
    assert (asked, cluster.producers) == ([], 1)


@pytest.mark.parametrize("others", [[], ["auditstream-other"], None])
def test_stopped_with_no_member_of_its_id_starts_as_usual(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, others: list[str] | None
) -> None:
    cluster, asked = start(monkeypatch, tmp_path, (WINDOW + 60, WINDOW + 50), others)
    assert (asked, cluster.producers) == ([1], 1)


@pytest.mark.parametrize(("age", "leaves"), [(WINDOW - 0.1, False), (WINDOW, True)])
def test_a_pause_the_watchdog_sees_in_the_kafka_steps_counts_once_old_enough(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, age: float, leaves: bool
) -> None:
    """Paused after the imports (waiting for the broker, creating the topics): the watchdog
    runs by then; the process must still be a session and the members' timeout old."""
    if leaves:
        with pytest.raises(DetectorError, match="leaves the id to it"):
            start(monkeypatch, tmp_path, (age, 0.0), ["me"], paused=True)
    else:
        cluster, asked = start(monkeypatch, tmp_path, (age, 0.0), ["me"], paused=True)
        assert (asked, cluster.producers) == ([], 1)


@pytest.mark.parametrize("born", [None, (WINDOW + 60, 0.0)])
def test_a_process_never_stopped_or_of_unknown_birth_asks_no_group(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, born: tuple[float, float] | None
) -> None:
    cluster, asked = start(monkeypatch, tmp_path, born, ["me"], paused=born is None)
    assert (asked, cluster.producers) == ([], 1)
