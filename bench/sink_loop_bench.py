"""The sink's Kafka loop alone (`sink.app._loop`), its CPU a message, no broker: a stub
writer, and a consumer handing over prebuilt messages whose methods are C callables, as
confluent_kafka's are. Scenarios: `backlog` (4 partitions with rows waiting, at their end
only in the last batch) and `one-at-end` (partition 3 at its end from the start).

    PYTHONPATH=. .venv/bin/python bench/sink_loop_bench.py --rows 1000000 --scenario backlog

Run it from two trees in turns (A B B A) to compare; the writer's cost (about 13 us a row,
`sink_bench.py`) is not in it.
"""

from __future__ import annotations

import argparse
import threading
import time
from types import SimpleNamespace
from typing import Any

from confluent_kafka import KafkaError

import sink.app as app
from sink.settings import SinkSettings

S = SinkSettings()
TOPIC, REVIEWS = S.topics.scored_topic, S.topics.reviews_topic
PARTS = {0, 1, 2, 3}
VALUE = b"x" * 300


def _msg(topic: str, p: int, o: int, err: KafkaError | None = None) -> SimpleNamespace:
    return SimpleNamespace(topic=topic.__str__, partition=p.__index__, offset=o.__index__,
                           value=VALUE.__bytes__, error=(lambda: err) if err else {}.clear)


def _batches(rows: int, scenario: str) -> list[list[SimpleNamespace]]:
    live = sorted(PARTS - {3}) if scenario == "one-at-end" else sorted(PARTS)
    msgs = [_msg(TOPIC, live[i % len(live)], i // len(live)) for i in range(rows)]
    out = [msgs[i:i + S.batch_size] for i in range(0, rows, S.batch_size)]
    eof = KafkaError(KafkaError._PARTITION_EOF)
    out[0] = [_msg(REVIEWS, 0, 0, eof), *out[0]]
    if scenario == "one-at-end":
        out[0] = [_msg(TOPIC, 3, 0, eof), *out[0]]
    out.append([_msg(TOPIC, p, 0, eof) for p in PARTS])
    return out


class _Consumer:
    def __init__(self, todo: list[list[SimpleNamespace]]) -> None:
        self.todo = todo

    def consume(self, n: int, timeout: float) -> list[SimpleNamespace]:
        return self.todo.pop(0) if self.todo else []

    def assignment(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(topic=REVIEWS, partition=0)]


class _Reader:
    def __init__(self, consumer: _Consumer) -> None:
        self.consumer = consumer

    def checked(self) -> _Consumer:
        return self.consumer


class _Writer:
    def __init__(self) -> None:
        self.changes = self.pending_rows = self.rows = 0
        self.offsets: dict[int, int] = {}
        self.folder = "-"

    def add(self, records: list[object], held: object) -> int:
        return 0

    def settle(self, held: object) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--scenario", choices=["backlog", "one-at-end"], default="backlog")
    args = ap.parse_args()
    todo = _batches(args.rows, args.scenario)
    reader: Any = _Reader(_Consumer(todo))
    writer: Any = _Writer()
    started = time.process_time()
    app._loop(reader, writer, S, PARTS, 0.0, threading.Event(), {})
    cpu = time.process_time() - started
    print(f"{args.scenario}: {args.rows:,} rows in batches of {S.batch_size:,}: the loop's "
          f"CPU {cpu * 1e9 / args.rows:.0f} ns a row")


if __name__ == "__main__":
    main()
