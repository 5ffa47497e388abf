"""Write the state topic's records of an older release's incremental checkpoints
(tests/unit/test_state_newer_version.py restores them with this release).

Run from the older tree, which is then first on the path, e.g. for commit 038e624:

    git worktree add --detach /tmp/old 038e624
    cd /tmp/old && python /path/to/tests/data/state/make_checkpoint_fixture.py OUT.jsonl

Partition 2 of topic t, group g: `state_stream.stream(600)[:450]` through that tree's engine
(`state_stream.CONFIG`, max_customers 12: evictions, so tombstones) and duplicate index,
checkpointed after 150, 300 and 450 rows; one JSON line a record (key, base64 value or
null, headers), in the order the topic holds them.
"""

from __future__ import annotations

import base64
import json
import sys

from detector.checkpoints import encode_checkpoint, state_prefix
from detector.core.engine import PartitionEngine
from detector.dedupe import DedupeIndex
from detector.partition import PartitionState
from tests.unit.state_stream import CONFIG, stream

SMALL = CONFIG.model_copy(update={"max_customers": 12})
DAY = 86400.0


def main() -> None:
    state = PartitionState(PartitionEngine(SMALL, 2), 0, dedupe=DedupeIndex(DAY))
    rows = stream(600)
    lines = []
    for end in (150, 300, 450):
        txs = rows[state.next_offset:end]
        assert state.dedupe is not None
        state.dedupe.check(txs, list(range(state.next_offset, end)))
        state.engine.process(txs)  # type: ignore[attr-defined]
        state.next_offset = end
        for r in encode_checkpoint(state_prefix("g", "t", 2), end, state.changes(),
                                   state.ledger, 64 * 1024):
            lines.append(json.dumps({
                "key": r.key.decode(),
                "value": None if r.value is None else base64.b64encode(r.value).decode(),
                "headers": [[k, v.decode()] for k, v in r.headers]}))
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
