"""An operator's upgrade, rollback and rolling upgrade, against a real broker.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT python bench/upgrade_probe.py OLD_TREE SCENARIO

OLD_TREE is a checkout of an older commit (`git worktree add --detach /tmp/old C`); its
detector and sink run from it (`PYTHONPATH=OLD_TREE`, this tree's virtual environment),
this tree's from a frozen copy. Every scenario replays one generated CSV into fresh topics,
lets the scored topic fill, exports it with this tree's sink and compares the rows with
`auditstream score --partitions 4` of this tree, row by row (lost, doubled, changed).

Scenarios (one per run):
  upgrade-term   old detector (and old sink) stopped by SIGTERM mid-stream, this one on
  upgrade-kill   the same, both killed with SIGKILL mid-stream
  rollback       this detector and sink first, stopped mid-stream; the old ones on
  rolling        two old instances; then a rolling upgrade, one instance at a time
  mixed          one old and one new instance in the group from the start
  newer-state    this detector stopped mid-stream, its manifests rewritten as a later
                 layout's (a newer release's), this detector started again: exit 2?
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.settings import KafkaSettings
from tests.integration.detector_harness import Topics
from tests.integration.pipeline_harness import (
    PIPELINE_CORE_ENV,
    base_env,
    detector,
    diff_rows,
    freeze_sources,
    generate_csv,
    read_scored_csv,
    replay,
    rollups_equal,
    run_cli,
    sink,
)
from tests.integration.topic_reader import read_all

PARTITIONS = 4
SCENARIOS = ("upgrade-term", "upgrade-kill", "rollback", "rolling", "mixed", "newer-state")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old_tree", type=Path, help="a checkout of the older commit")
    parser.add_argument("scenario", choices=SCENARIOS)
    args = parser.parse_args()
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        parser.error("KAFKA_BOOTSTRAP_SERVERS is not set: start a broker of your own "
                     "(auditstream broker start) and export its address")
    old_tree, scenario = args.old_tree.resolve(), args.scenario
    kafka = KafkaSettings()
    work = Path(tempfile.mkdtemp(prefix=f"upgrade-{scenario}-"))
    src = freeze_sources(work / "src")
    topics = Topics(f"upg-{scenario}-{int(time.time())}", PARTITIONS).create(kafka)
    core = {**PIPELINE_CORE_ENV, "DETECTOR_BATCH_SIZE": "200", "DETECTOR_SNAPSHOT_EVERY": "300"}
    new_env = base_env(kafka, topics, core, src)
    old_env = {**new_env, "PYTHONPATH": str(old_tree)}
    source = work / "tx.csv"
    n = generate_csv(source, new_env, seed=17, customers=300, days=20)
    logs = work / "logs"
    logs.mkdir()
    exports = work / "upgraded"
    first_env, then_env = (new_env, old_env) if scenario == "rollback" else (old_env, new_env)
    print(f"{scenario}: {n} rows, work {work}, old tree {old_tree}", flush=True)

    feed = replay(source, new_env, logs, rate=400).start()
    codes: dict[str, int] = {}
    if scenario in ("upgrade-term", "upgrade-kill", "rollback"):
        det = detector("a", first_env, logs).start()
        snk = sink(first_env, exports, logs).start()
        read_all(kafka, topics.scored, PARTITIONS, n // 3, timeout=300, settle=0)
        if scenario == "upgrade-kill":
            det.kill()
            snk.kill()
            codes |= {"first detector": -9, "first sink": -9}
        else:
            codes |= {"first detector": det.terminate(), "first sink": snk.terminate()}
        det2 = detector("a", then_env, logs)
        det2.name = "detector-a-then"
        det2.start()
        snk2 = sink(then_env, exports, logs, "--until-idle", "5")
        snk2.name = "sink-then"
        running = [det2]
    elif scenario == "rolling":
        a = detector("a", old_env, logs).start()
        b = detector("b", old_env, logs).start()
        read_all(kafka, topics.scored, PARTITIONS, n // 4, timeout=300, settle=0)
        codes["old a"] = a.terminate()
        a2 = detector("a", new_env, logs)
        a2.name = "detector-a-new"
        a2.start()
        read_all(kafka, topics.scored, PARTITIONS, n // 2, timeout=300, settle=0)
        codes["old b"] = b.terminate()
        b2 = detector("b", new_env, logs)
        b2.name = "detector-b-new"
        b2.start()
        running = [a2, b2]
        snk2 = None
    elif scenario == "newer-state":
        return newer_state(kafka, topics, new_env, logs, n)
    elif scenario == "mixed":
        running = [detector("a", old_env, logs).start(), detector("b", new_env, logs).start()]
        snk2 = None
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    assert feed.wait(300) == 0, feed.logs()[-3000:]
    published = read_all(kafka, topics.scored, PARTITIONS, n, timeout=300, settle=3.0)
    for proc in running:
        codes[proc.name] = proc.terminate()
    print(f"scored messages {len(published)} for {n} rows; exit codes {codes}", flush=True)
    if snk2 is not None:
        code = snk2.start().wait(300)
        print(f"the second sink on the first one's folder: exit {code}", flush=True)
        print(snk2.logs()[-1500:], flush=True)
    fresh, offline = work / "fresh", work / "offline"
    exporter = sink(new_env, fresh, logs, "--until-idle", "5")
    exporter.name = "sink-fresh"
    assert exporter.start().wait(600) == 0, exporter.logs()[-3000:]
    run_cli(["score", str(source), "--partitions", str(PARTITIONS), "--out", str(offline)],
            new_env, timeout=1200)
    for name, folder in (("topic, exported fresh", fresh), ("upgraded folder", exports)):
        if not (folder / "run.json").exists():
            continue
        d = diff_rows(read_scored_csv(folder), read_scored_csv(offline))
        print(f"{name} vs score: rows {d.rows}/{d.expected} lost {len(d.lost)} doubled "
              f"{len(d.duplicated)} changed {len(d.changed)} unexpected {len(d.unexpected)} "
              f"columns {d.columns_differing} rollups {rollups_equal(folder, offline)}",
              flush=True)
    if (exports / "run.json").exists():
        same = {}
        for f in sorted(fresh.iterdir()):
            if f.is_file() and f.suffix == ".csv" and f.name != "status.csv":
                same[f.name] = (exports / f.name).exists() and (
                    (exports / f.name).read_bytes() == f.read_bytes())
        print("upgraded folder vs fresh folder, same bytes:", json.dumps(same), flush=True)
    print(f"logs in {logs}", flush=True)
    return 0


def newer_state(kafka: KafkaSettings, topics: Topics, env: dict[str, str], logs: Path,
                n: int) -> int:
    """A rollback onto a newer release's state, crafted: every manifest a later layout."""
    from shared.kafka import make_producer

    first = detector("a", env, logs).start()
    read_all(kafka, topics.scored, PARTITIONS, n // 3, timeout=600, settle=0)
    print(f"first detector: exit {first.terminate()}", flush=True)
    state = read_all(kafka, topics.snapshots, PARTITIONS, 1, timeout=60, settle=2.0)
    manifests = {m.key(): m for m in state if (m.key() or b"").endswith(b"/m") and m.value()}
    producer = make_producer(kafka)
    for key, m in manifests.items():
        doc = json.loads(m.value() or b"") | {"layout": 2}
        producer.produce(topics.snapshots, key=key, value=json.dumps(doc).encode(),
                         partition=m.partition() or 0, headers=m.headers())
    assert producer.flush(30) == 0
    print(f"{len(manifests)} manifests rewritten as layout 2", flush=True)
    again = detector("a", env, logs)
    again.name = "detector-a-again"
    code = again.start().wait(600)
    lines = again.logs().strip().splitlines()
    print(f"this detector on them: exit {code}; last line: {lines[-1] if lines else ''}",
          flush=True)
    return 0


if __name__ == "__main__":
    os.nice(10)
    sys.exit(main())
