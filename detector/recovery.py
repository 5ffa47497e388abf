"""How a newly assigned partition gets its state back: a pure decision, then Kafka reads.

The state of a partition as of its committed offset C is the latest snapshot (taken at input
offset S <= C, written in the same transaction as the offsets that covered it) with the input
records [S, C) re-processed without output. When those records, or the committed position
itself, fell out of the input topic's retention, the state cannot be rebuilt exactly: the
policy says whether to fail loudly (default) or reset the partition's state and warn.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.settings import RecoveryPolicy
from shared.errors import AuditstreamError

#: What a refusal of a lost history advises (`lost`).
RETENTION_ADVICE = ("Raise the input topic's retention or lower DETECTOR_SNAPSHOT_EVERY; to go "
                    "on anyway with empty state, set DETECTOR_RECOVERY_POLICY=reset.")


class RecoveryError(AuditstreamError):
    """A partition's state cannot be restored exactly and the policy says to stop."""


@dataclass(frozen=True)
class RecoveryPlan:
    """Start from the snapshot (or empty state), replay [replay_from, resume_at) silently."""

    use_snapshot: bool
    replay_from: int
    resume_at: int
    warning: str | None = None

    @property
    def replay_count(self) -> int:
        return max(0, self.resume_at - self.replay_from)


def plan_recovery(
    partition: int,
    committed: int | None,
    snapshot_offset: int | None,
    log_start: int,
    log_end: int,
    policy: RecoveryPolicy,
    unusable_at: int | None = None,
) -> RecoveryPlan:
    """Decide how to rebuild `partition`'s state; raise `RecoveryError` under policy `fail`.
    `unusable_at`: how far a checkpoint that could not be restored covered (its manifest's
    offset; `snapshot_offset` is then None): the history is replayed from the start as
    without one, but the group's offsets must still have reached it, else they were reset
    (or expired) and rows already scored would be scored again."""
    # the offset the group's must have reached, and how the checkpoint that says so is named
    covered = snapshot_offset if snapshot_offset is not None else unusable_at
    unusable = snapshot_offset is None and unusable_at is not None

    def lost(problem: str, resume_at: int, consequence: str,
             advice: str = RETENTION_ADVICE) -> RecoveryPlan:
        if policy == "fail":
            raise RecoveryError(f"partition {partition}: {problem}. Refusing to guess "
                                f"(recovery_policy=fail). {advice}")
        return RecoveryPlan(False, resume_at, resume_at, f"partition {partition}: {problem}; "
                            f"reset to empty state at offset {resume_at}: {consequence}")

    if committed is None:
        if covered is None:
            return RecoveryPlan(False, log_start, log_start)
        return lost(
            f"a state snapshot exists (offset {covered}{', unusable' if unusable else ''}) but "
            "the group has no committed offset (expired?)",
            log_start, "rows still in the topic may be scored a second time",
        )
    if committed > log_end:
        return lost(
            f"committed offset {committed}, snapshot offset {snapshot_offset} and input log "
            f"[{log_start}, {log_end}) are inconsistent (topic recreated?)",
            log_end, "state starts empty",
            "A topic created anew takes a new DETECTOR_GROUP_ID; to go on anyway with empty "
            "state, set DETECTOR_RECOVERY_POLICY=reset.",
        )
    if covered is not None and covered > committed:
        # An operator's `kafka-consumer-groups --reset-offsets` while the detectors were
        # stopped (randomized soak, `reset_offsets`); no retention mends it.
        return lost(
            f"committed offset {committed} is behind the checkpoint at offset {covered}"
            f"{' (unusable)' if unusable else ''} (input log [{log_start}, {log_end})): the "
            f"group's offsets were reset (or the topic recreated), and scoring from "
            f"{committed} would put rows on the scored topic a second time",
            committed, "rows already scored are scored a second time",
            "Set the group's offsets back to where they were (at least "
            f"{covered}: kafka-consumer-groups --reset-offsets --to-offset), or score "
            "the input anew under a new DETECTOR_GROUP_ID into a new scored topic; to go on "
            "anyway with empty state, set DETECTOR_RECOVERY_POLICY=reset.",
        )
    if committed < log_start:
        return lost(
            f"committed offset {committed} fell out of retention (log starts at {log_start}): "
            f"{log_start - committed} records were never scored",
            log_start, "those records stay unscored and state starts empty",
        )
    base = 0 if snapshot_offset is None else snapshot_offset
    if base < log_start:
        return lost(
            f"input records [{base}, {committed}) needed to rebuild state are partly gone "
            f"(log starts at {log_start})",
            committed, "state starts empty, so scores differ until it rebuilds",
        )
    return RecoveryPlan(snapshot_offset is not None, base, committed)
