"""bench/chaos_soak.py's account of replaced zombies at the end of a run. Seed 705
(2026-12-07): detector d1 was paused, replaced, and its replacement killed -9 and left dead
(other detectors ran) as the paused one woke; the woken one, its id's only process, ran on
correctly and was reported as a divergence, "zombie detector-d1-3.log: running"."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from chaos_soak import Chaos

from tests.unit.soak_fakes import Svc


def replaced(replacement_kept: bool) -> tuple[Chaos, Svc, Svc]:
    """A chaos whose d1 was replaced (its old process a zombie, woken); the replacement
    kept as d1's current process, or killed and left dead (no current process of d1)."""
    chaos = Chaos({}, Path("."), Svc.running("sink-1.log"))  # type: ignore[arg-type]
    zombie, newer = Svc.running("detector-d1-3.log"), Svc.running("detector-d1-4.log")
    chaos.zombies.append(("d1", zombie))  # type: ignore[arg-type]
    if replacement_kept:
        chaos.detectors["d1"] = newer  # type: ignore[assignment]
    else:
        newer.kill()
    chaos.detectors["d2"] = Svc.running("detector-d2-1.log")  # type: ignore[assignment]
    return chaos, zombie, newer


def test_a_zombie_whose_replacement_was_left_dead_is_stopped_as_its_ids_only_process(
) -> None:
    chaos, zombie, _ = replaced(replacement_kept=False)
    assert chaos.stop_all() == {"sink": 0, "d2": 0, "d1": 0}
    assert not zombie.alive()
    assert chaos.zombie_codes() == ["detector-d1-3.log: exit 0 (its id's only process)"]


def test_a_zombie_running_beside_its_replacement_is_still_reported_running() -> None:
    chaos, zombie, newer = replaced(replacement_kept=True)
    assert chaos.stop_all() == {"sink": 0, "d1": 0, "d2": 0}
    assert (zombie.alive(), newer.alive()) == (True, False)
    assert chaos.zombie_codes() == ["detector-d1-3.log: running"]  # seed 700's divergence


def test_a_zombie_that_ended_before_its_id_was_left_without_a_process_is_named_as_it_ended(
) -> None:
    """Seed 708: the zombie exited 2, fenced; later d1's current process was SIGTERMed
    and not restarted. It was never its id's only process."""
    chaos, zombie, _ = replaced(replacement_kept=False)
    assert zombie.proc is not None
    zombie.proc.code = 2
    assert chaos.stop_all() == {"sink": 0, "d2": 0}
    assert chaos.zombie_codes() == ["detector-d1-3.log: exit 2"]


#: The last line of a process that leaves its id to a zombie woken first (detector.txn).
LEFT = ("python -m detector: error: transactional producer x-detector-d1 was fenced ...; "
        "it ends and leaves the id to that one, which goes on\n")


def _left_to_zombie(tmp_path: Path, code: int) -> tuple[Chaos, Svc, Svc]:
    """Seed 759 (helper session 19): d1 paused and replaced; its replacement paused past
    the timeouts; the zombie, woken first, found no member of its id and went on (the
    both-paused row, 'older first'); the replacement, woken, left the id, exit 2."""
    chaos = Chaos({}, tmp_path, Svc.running("sink-1.log"))  # type: ignore[arg-type]
    zombie = Svc("detector-d1", log_dir=tmp_path)
    zombie.starts = 2
    zombie.start()
    newer = Svc("detector-d1", log_dir=tmp_path)
    newer.starts = 3
    newer.start()
    newer.log_path.write_text(LEFT)
    assert newer.proc is not None
    newer.proc.code = code
    chaos.zombies.append(("d1", zombie))  # type: ignore[arg-type]
    chaos.detectors["d1"] = chaos.known["d1"] = newer  # type: ignore[assignment]
    return chaos, zombie, newer


def test_a_replacement_that_left_its_id_to_the_woken_zombie_hands_it_over(
        tmp_path: Path) -> None:
    chaos, zombie, _ = _left_to_zombie(tmp_path, 2)
    chaos.check()
    assert chaos.unplanned == []  # before: "exited 2", and a restart that fenced the zombie
    assert chaos.detectors["d1"] is zombie  # type: ignore[comparison-overlap]
    assert chaos.zombies == []
    assert [e["event"] for e in chaos.events] == ["zombie_took_over"]
    assert chaos.stop_all() == {"sink": 0, "d1": 0}


def test_a_replacement_leaving_its_id_as_the_run_stops_hands_it_over(tmp_path: Path) -> None:
    """Seed 759's end: the SIGTERM of the stop met the replacement in its exit (-15)."""
    chaos, zombie, newer = _left_to_zombie(tmp_path, 0)
    assert newer.proc is not None
    newer.proc.code = None  # still running when the stop comes; its terminate says -15
    newer.terminate = lambda timeout=60: -15  # type: ignore[method-assign]
    assert chaos.stop_all() == {"sink": 0, "d1": 0}
    assert not zombie.alive() and chaos.zombie_codes() == [
        "detector-d1-3.log: exit 0 (its id's only process)"]


def test_a_replacement_that_exited_2_for_another_reason_is_still_unplanned(
        tmp_path: Path) -> None:
    chaos, zombie, newer = _left_to_zombie(tmp_path, 2)
    newer.log_path.write_text("python -m detector: error: Kafka client error: ...\n")
    chaos.check()
    assert chaos.unplanned == ["detector-d1-4.log exited 2 at 0.0 s"]
    assert chaos.detectors["d1"] is not zombie  # type: ignore[comparison-overlap]
    assert chaos.zombies == [("d1", zombie)]  # type: ignore[comparison-overlap]


#: The last line of a process fenced by another of its id (detector.txn).
FENCED = ("python -m detector: error: transactional producer x-detector-d1 was fenced "
          "(another instance with the same id?): KafkaError{FATAL,code=_FENCED,...}\n")


def test_a_replacement_fenced_by_the_zombie_woken_before_its_join_hands_it_over(
        tmp_path: Path) -> None:
    """Seed 786 (2026-12-07; 723 before it): d2 paused 23 s and replaced; the zombie woke
    0.3 s after its replacement's start, found no member of its id (the replacement still
    loading its modules), made a producer and fenced the replacement's: exit 2, fenced,
    the zombie running on (the table's row on a zombie woken between the newer process's
    producer and its join). The soak took it for unplanned and restarted d2, fencing the
    zombie; systemd does not restart exit 2."""
    chaos, zombie, newer = _left_to_zombie(tmp_path, 2)
    newer.log_path.write_text("WARNING ...\n" + FENCED)
    chaos.check()
    assert chaos.unplanned == []
    assert chaos.detectors["d1"] is zombie  # type: ignore[comparison-overlap]
    assert [e["event"] for e in chaos.events] == ["zombie_took_over"]


def test_a_fenced_replacement_with_no_live_zombie_is_still_unplanned(tmp_path: Path) -> None:
    chaos, zombie, newer = _left_to_zombie(tmp_path, 2)
    newer.log_path.write_text(FENCED)
    zombie.kill()
    chaos.check()
    assert chaos.unplanned == ["detector-d1-4.log exited 2 at 0.0 s"]
