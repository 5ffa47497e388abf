"""The recovery decision: exact rebuilds when possible, loud failures (or resets) otherwise."""

from __future__ import annotations

import pytest

from detector.recovery import RecoveryError, RecoveryPlan, plan_recovery


def test_new_group_starts_at_the_log_start_with_empty_state() -> None:
    assert plan_recovery(0, None, None, 0, 100, "fail") == RecoveryPlan(False, 0, 0)
    assert plan_recovery(0, None, None, 40, 100, "fail") == RecoveryPlan(False, 40, 40)


def test_snapshot_then_replay_up_to_the_committed_offset() -> None:
    plan = plan_recovery(1, 950, 900, 0, 1000, "fail")
    assert plan == RecoveryPlan(True, 900, 950)
    assert plan.replay_count == 50


def test_without_snapshot_the_whole_history_is_replayed() -> None:
    assert plan_recovery(1, 300, None, 0, 1000, "fail") == RecoveryPlan(False, 0, 300)


def test_replay_history_lost_to_retention_fails_loudly() -> None:
    with pytest.raises(RecoveryError, match=r"partition 2: input records \[900, 950\)"):
        plan_recovery(2, 950, 900, 920, 1000, "fail")


def test_replay_history_lost_resets_state_under_reset_policy() -> None:
    plan = plan_recovery(2, 950, 900, 920, 1000, "reset")
    assert (plan.use_snapshot, plan.replay_from, plan.resume_at) == (False, 950, 950)
    assert plan.warning and "reset to empty state at offset 950" in plan.warning


def test_committed_offset_out_of_retention_never_skips_silently() -> None:
    with pytest.raises(RecoveryError, match="20 records were never scored"):
        plan_recovery(0, 100, 100, 120, 500, "fail")
    plan = plan_recovery(0, 100, 100, 120, 500, "reset")
    assert plan.resume_at == 120 and plan.warning and "never scored" in plan.warning


def test_snapshot_without_committed_offset_is_not_trusted() -> None:
    with pytest.raises(RecoveryError, match="no committed offset"):
        plan_recovery(0, None, 500, 0, 1000, "fail")


def test_snapshot_ahead_of_committed_offset_is_inconsistent() -> None:
    with pytest.raises(RecoveryError, match="behind the checkpoint"):
        plan_recovery(0, 100, 200, 0, 1000, "fail")


@pytest.mark.parametrize(("committed", "snapshot"), [(0, 1), (0, 3000), (2999, 3000)])
def test_offsets_reset_behind_the_checkpoint_are_refused_with_the_way_back(
        committed: int, snapshot: int) -> None:
    # An operator's `kafka-consumer-groups --reset-offsets --to-earliest` while the detectors
    # were stopped (randomized soak, `reset_offsets`): the advice is the offsets', not the
    # retention's, which no retention mends.
    with pytest.raises(RecoveryError) as caught:
        plan_recovery(2, committed, snapshot, 0, 4000, "fail")
    text = str(caught.value)
    assert "\n" not in text
    assert f"partition 2: committed offset {committed} is behind the checkpoint at offset " \
           f"{snapshot}" in text
    assert "offsets were reset" in text and "a second time" in text
    assert f"Set the group's offsets back to where they were (at least {snapshot}" in text
    assert "retention" not in text and "SNAPSHOT_EVERY" not in text


def test_offsets_at_the_checkpoint_are_no_reset() -> None:
    plan = plan_recovery(2, 3000, 3000, 0, 4000, "fail")
    assert (plan.use_snapshot, plan.replay_from, plan.resume_at) == (True, 3000, 3000)


def test_offsets_reset_go_on_from_the_committed_offset_under_reset_policy() -> None:
    plan = plan_recovery(2, 0, 3000, 0, 4000, "reset")
    assert (plan.use_snapshot, plan.resume_at) == (False, 0)
    assert plan.warning and "offsets were reset" in plan.warning


def test_a_committed_offset_past_the_log_end_is_a_topic_recreated() -> None:
    with pytest.raises(RecoveryError, match=r"inconsistent \(topic recreated\?\)") as caught:
        plan_recovery(2, 5000, None, 0, 4000, "fail")
    assert "retention" not in str(caught.value)


@pytest.mark.parametrize(("committed", "unusable"), [(0, 1), (0, 3000), (2999, 3000)])
def test_offsets_reset_behind_an_unusable_checkpoint_are_refused_too(
        committed: int, unusable: int) -> None:
    # The checkpoint could not be restored (poison on the state topic, randomized soak seed
    # 877), but its manifest still says how far it covered: an offset behind it was reset,
    # and scoring from it would put every row since on the scored topic a second time.
    with pytest.raises(RecoveryError) as caught:
        plan_recovery(2, committed, None, 0, 4000, "fail", unusable_at=unusable)
    text = str(caught.value)
    assert f"partition 2: committed offset {committed} is behind the checkpoint at offset " \
           f"{unusable} (unusable)" in text
    assert f"Set the group's offsets back to where they were (at least {unusable}" in text
    plan = plan_recovery(2, committed, None, 0, 4000, "reset", unusable_at=unusable)
    assert (plan.use_snapshot, plan.replay_from, plan.resume_at) == (False, committed,
                                                                    committed)
    assert plan.warning and "offsets were reset" in plan.warning


@pytest.mark.parametrize("unusable", [2999, 3000])
def test_an_unusable_checkpoint_at_or_before_the_committed_offset_rebuilds_from_history(
        unusable: int) -> None:
    plan = plan_recovery(2, 3000, None, 0, 4000, "fail", unusable_at=unusable)
    assert plan == RecoveryPlan(False, 0, 3000)


def test_an_unusable_checkpoint_without_a_committed_offset_is_not_a_new_group() -> None:
    with pytest.raises(RecoveryError, match=r"a state snapshot exists \(offset 70, "
                                            r"unusable\) but the group has no committed"):
        plan_recovery(1, None, None, 0, 100, "fail", unusable_at=70)
