"""One batch of raw messages -> CSV bytes, kept rejections and a rollup delta. Pure.

The same function runs in the sink's process or, with `SINK_DECODE_WORKERS`, in worker
processes over slices of a batch; deltas merge exactly (counts add, cases replay in
order, bottom-k samples unite), so the files are identical either way.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shared.codec import decode
from shared.errors import SchemaError
from shared.fastcodec import (
    MAX_UNKNOWN_FIELDS,
    ScoredRecord,
    decode_scored,
    scored_record,
    unknown_scored_fields,
)
from shared.gcpause import gc_paused
from shared.message_size import MAX_SCORED_MESSAGE_BYTES
from shared.schemas import CONTROL_CHARACTERS, ScoredTransaction
from sink.csvfmt import record_cells
from sink.days import DayChunk, EventTime, event_times, single_file_bytes, split_by_day
from sink.least_names import merge_least
from sink.rollup import Facts, RollupParams, facts_of
from sink.volume import SinkRollup

Record = tuple[int, int, bytes | None]  # partition, offset, value


@dataclass
class BatchResult:
    csv: bytes  # the rows in stream order, for transactions_scored.csv (b"" when not asked)
    rows: int
    rejected: list[bytes]  # JSON lines for sink_rejected.jsonl
    delta: SinkRollup
    days: dict[str, DayChunk]  # the same rows by event day (sink.days)
    #: each row's customer and time, in stream order: the writer counts late rows with
    #: them, row by row (`sink.days.count_late`: a worker does not know the watermark)
    times: list[EventTime]
    #: each row's partition, as `times` (the days close by each partition's watermark)
    partitions: list[int]
    #: fields the sink does not know (a newer detector's), ignored: name -> rows holding
    #: it (the least `MAX_UNKNOWN_FIELDS` names: `count_unknown`), and how many rows held any
    unknown: dict[str, int] = field(default_factory=dict)
    unknown_rows: int = 0


def format_batch(records: Sequence[Record], params: RollupParams,
                 single_file: bool = False) -> BatchResult:
    """Validate, format and count `records` (already de-duplicated, in offset order);
    `single_file`: also the rows' bytes in stream order (`EXPORTS_SINGLE_FILE`)."""
    # A batch makes ~10 objects per row and no reference cycles: the cyclic collector
    # would only rescan them (it doubled the cost per row), so it waits for the batch.
    with gc_paused():
        cells: list[list[str]] = []
        facts: list[Facts] = []
        rejected: list[bytes] = []
        bad: set[tuple[int, int]] = set()  # rejected (partition, offset): not in `times`
        unknown: dict[str, int] = {}
        unknown_rows = 0
        for partition, offset, value in records:
            # the fast decoder's record when it vouches for the message (nearly always),
            # else the schema's verdict: its row, or the rejection with its reason; and the
            # fields the sink does not know, ignored (an exact record has none)
            if value is not None and len(value) > MAX_SCORED_MESSAGE_BYTES:
                rejected.append(rejection(partition, offset, value, too_large(len(value))))
                bad.add((partition, offset))
                continue
            if value and (tx := decode_scored(value)) is not None:
                names = () if type(tx) is ScoredRecord else unknown_scored_fields(value)
            else:
                try:
                    if value is None:
                        raise SchemaError("empty message (tombstone)")
                    tx = scored_record(decode(value, ScoredTransaction))
                    names = unknown_scored_fields(value)
                except SchemaError as exc:
                    rejected.append(rejection(partition, offset, value, str(exc)))
                    bad.add((partition, offset))
                    continue
            if names:
                unknown_rows += 1
                count_unknown(unknown, dict.fromkeys(names, 1))
            cells.append(record_cells(tx))
            facts.append(facts_of(tx))
        delta = SinkRollup(params)
        delta.update(facts, cells)
        days = split_by_day(cells)
        csv = single_file_bytes(cells, days) if single_file else b""
        parts = [r[0] for r in records if not bad or (r[0], r[1]) not in bad]
        return BatchResult(csv, len(cells), rejected, delta, days, event_times(cells), parts,
                           unknown, unknown_rows)


def count_unknown(into: dict[str, int], counts: Mapping[str, int]) -> None:
    """Add `counts` (unknown field name -> rows) into `into`, which keeps the least
    `MAX_UNKNOWN_FIELDS` names with every row holding each, whatever the batch cuts, worker
    slices and restarts (`sink.least_names`; it kept the first 16 a part saw until
    2026-12-06, so a slice could drop rows of a name the folder kept)."""
    merge_least(into, counts, MAX_UNKNOWN_FIELDS)


def too_large(size: int) -> str:
    """The reason a scored message of `size` bytes is rejected unread."""
    return (f"the message is {size:,} bytes, over the {MAX_SCORED_MESSAGE_BYTES:,} a scored "
            "transaction can take (every field at its bound, room for a newer detector's "
            "fields); not read")


def format_slice(args: tuple[Sequence[Record], RollupParams, bool]) -> BatchResult:
    """`format_batch` for `Pool.map`."""
    return format_batch(*args)


def _json_escape(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


#: A rejected value is written as text while that takes at most this many bytes a byte of
#: it (a quote or a backslash escaped: 2), else in base64 (4 for 3): a message of control
#: characters, each a 6-byte `\u0001`, made a line 6 times its size, every line of a batch
#: held until written (a hostile probe, 2026-12-06, thirteenth).
MAX_TEXT_BYTES_PER_BYTE = 2


def rejection(partition: int, offset: int, value: bytes | None, reason: str) -> bytes:
    """One line of sink_rejected.jsonl: where the message was, why, and its raw value: as
    text (`value`), or `value_base64` when it is not UTF-8, its text would take more than
    `MAX_TEXT_BYTES_PER_BYTE` times its bytes, or it is over `MAX_SCORED_MESSAGE_BYTES`.

    Every character of the text rule (`shared.schemas.CONTROL_RULE`) is written as a JSON
    `\\uXXXX` escape: a rejected value may hold U+2028 or U+0085 (line breaks to
    `str.splitlines` and many readers) or a bidi override, and a line must stay one line."""
    head = _escaped(json.dumps({"partition": partition, "offset": offset, "error": reason},
                               ensure_ascii=False)[:-1]).encode()
    if value is None:
        return head + b"}\n"
    # a message over the bound is never decoded: its text (up to 6 bytes a byte) would be
    # built only to be dropped for the base64
    shown = None if len(value) > MAX_SCORED_MESSAGE_BYTES else _as_text(value)
    if shown is None:
        return head + b', "value_base64": "' + base64.b64encode(value) + b'"}\n'
    return head + b', "value": ' + shown + b"}\n"


def _as_text(value: bytes) -> bytes | None:
    """`value` as a JSON string, or None when it is not UTF-8 or would take more than
    `MAX_TEXT_BYTES_PER_BYTE` times its bytes."""
    try:
        shown = _escaped(json.dumps(value.decode("utf-8"), ensure_ascii=False)).encode()
    except UnicodeDecodeError:
        return None
    return None if len(shown) - 2 > MAX_TEXT_BYTES_PER_BYTE * len(value) else shown


def _escaped(text: str) -> str:
    return CONTROL_CHARACTERS.sub(_json_escape, text)
