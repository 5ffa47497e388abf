"""A checkpoint written by a newer release is refused, not rebuilt over (rollback's guard).

A detector rolled back onto a state topic a newer release wrote used to take that state for
a broken one: one WARNING, the whole input history replayed, and its new epoch's first
checkpoint deleted every record the newer release had written (a roll forward again then
rebuilt too; with the history past retention, the policy's reset lost the state). Each
record names its version (the manifest's `layout`, the last byte of a customer's or a
part's magic); a version past the one this release writes is now exit 2 in one line, the
state topic untouched. An older or unknown one is still unusable and rebuilt, as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import detector.kafka_io as kafka_io
from detector.checkpoints import LAYOUT, state_prefix
from detector.core.stateparts import CUSTOMER_MAGIC, PART_MAGIC
from detector.partition import CoreEngineFactory
from detector.recovery import RecoveryError
from detector.settings import DetectorSettings
from detector.snapshots import SnapshotRecord
from shared.errors import ExitCode
from tests.unit.detector_fakes import messages
from tests.unit.state_stream import stream
from tests.unit.test_detector_checkpoints import SMALL, Writer

ROWS = 300
SETTINGS = DetectorSettings(instance_id="t", group_id="g", snapshot_topic="state",
                            topics={"transactions_topic": "t"}, dedupe_horizon_s=86400.0)


@dataclass
class _Msg:
    _key: bytes
    _value: bytes | None
    _headers: list[tuple[str, bytes]]

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]]:
        return self._headers


class _Watermarks:
    def get_watermark_offsets(self, tp: Any, timeout: float = 0) -> tuple[int, int]:
        return 0, ROWS

    def close(self) -> None:
        pass


def _records() -> list[SnapshotRecord]:
    w = Writer()
    w.feed(stream(ROWS)[:200])
    w.checkpoint()
    assert w.records[-1].key == f"{state_prefix('g', 't', 2)}/m".encode()
    return w.records


def _restore(monkeypatch: pytest.MonkeyPatch, records: list[SnapshotRecord]) -> Any:
    """`Restorer.restore` of partition 2 (committed 200) from `records` on the state topic."""
    txs = stream(ROWS)

    def read(topic: str, partition: int, start: int, until: int | None) -> Iterator[Any]:
        if topic == "state":
            return iter([_Msg(r.key, r.value, list(r.headers)) for r in records])
        return iter(messages(2, start, txs[start:until]))

    monkeypatch.setattr(kafka_io, "make_consumer", lambda *a, **k: _Watermarks())
    restorer = kafka_io.Restorer(SETTINGS, CoreEngineFactory(SMALL), 4)
    monkeypatch.setattr(restorer, "_read", read)
    return restorer.restore(2, 200)


def _with_layout(records: list[SnapshotRecord], layout: Any) -> list[SnapshotRecord]:
    m = records[-1]
    doc = json.loads(m.value or b"") | {"layout": layout}
    return [*records[:-1], SnapshotRecord(m.key, json.dumps(doc).encode(), m.headers)]


def _with_version(records: list[SnapshotRecord], kind: bytes, version: int
                  ) -> list[SnapshotRecord]:
    """Every record of `kind` (b"/c/" customers, b"/p/" parts) with its magic's version
    byte set to `version` (the rest as written: a newer release's record may be anything),
    the manifest's sizes and checksums of the parts as such a release would write them."""
    out = [SnapshotRecord(r.key, r.value[:3] + bytes([version]) + r.value[4:], r.headers)
           if kind in r.key and r.value and r.key.endswith(b"/0" if kind == b"/p/" else b"")
           else r for r in records]
    m = out[-1]
    doc = json.loads(m.value or b"")
    latest = {r.key: r.value for r in out}
    prefix = m.key.decode()[:-1]
    for name, info in doc["parts"].items():
        data = b"".join(latest[f"{prefix}p/{name}/{i}".encode()] or b""
                        for i in range(info["chunks"]))
        info |= {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return [*out[:-1], SnapshotRecord(m.key, json.dumps(doc).encode(), m.headers)]


def _refused(monkeypatch: pytest.MonkeyPatch, records: list[SnapshotRecord],
             caplog: pytest.LogCaptureFixture, what: str) -> None:
    with pytest.raises(RecoveryError) as info:
        _restore(monkeypatch, records)
    line = str(info.value)
    assert "\n" not in line and info.value.exit_code == ExitCode.USAGE
    assert line.startswith("partition 2: its checkpoint in state was written by a newer "
                           f"auditstream release ({what}"), line
    assert "DETECTOR_SNAPSHOT_TOPIC" in line
    assert "rebuilding" not in caplog.text  # nothing replayed, nothing written over


def test_the_current_layout_restores_from_the_checkpoint(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    state, plan = _restore(monkeypatch, _with_layout(_records(), LAYOUT))
    assert plan.use_snapshot and plan.replay_from == 200 and state.ledger.number == 1


def test_a_manifest_of_a_later_layout_is_refused_in_one_line(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _refused(monkeypatch, _with_layout(_records(), LAYOUT + 1), caplog,
             f"checkpoint layout {LAYOUT + 1}; this release reads layout {LAYOUT}")


@pytest.mark.parametrize("layout", [LAYOUT - 1, "2", None])
def test_a_manifest_of_an_older_or_unknown_layout_is_still_rebuilt(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, layout: Any
) -> None:
    state, plan = _restore(monkeypatch, _with_layout(_records(), layout))
    assert "rebuilding from the input history" in caplog.text
    assert not plan.use_snapshot and plan.replay_from == 0 and state.ledger.number == 0


@pytest.mark.parametrize(("kind", "name"), [(b"/c/", "customer record"),
                                            (b"/p/", "state part record")])
def test_a_record_of_a_later_version_is_refused_in_one_line(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, kind: bytes,
        name: str) -> None:
    assert CUSTOMER_MAGIC[3] == PART_MAGIC[3] == 3
    _refused(monkeypatch, _with_version(_records(), kind, 4), caplog,
             f"{name} version 4; this release reads version 3")


@pytest.mark.parametrize("kind", [b"/c/", b"/p/"])
def test_a_record_of_an_earlier_version_is_still_rebuilt(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, kind: bytes
) -> None:
    _, plan = _restore(monkeypatch, _with_version(_records(), kind, 2))
    assert "unusable" in caplog.text and "rebuilding from the input history" in caplog.text
    assert not plan.use_snapshot and plan.replay_from == 0
