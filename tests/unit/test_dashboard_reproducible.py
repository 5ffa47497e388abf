"""`dashboard.reproducible`: the build epoch, the scoped patches of pbix-mcp's entropy, the
XPress9 re-signing and the canonical ZIP, each without a full build (that is
test_dashboard_pbix_reproducible)."""

from __future__ import annotations

import json
import secrets
import struct
import threading
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pbix_mcp import builder_v2  # type: ignore[import-untyped]
from pbix_mcp.formats import metadata_schema  # type: ignore[import-untyped]
from pbix_mcp.formats.datamodel_roundtrip import (  # type: ignore[import-untyped]
    compress_datamodel,
    decompress_datamodel,
)

from dashboard.reproducible import (
    DEFAULT_EPOCH,
    build_epoch,
    canonical_zip,
    deterministic,
    input_digest,
    stable_xpress9,
    zip_date_time,
)
from dashboard.spec import NAME
from shared.errors import ExitCode
from shared.source_date import BuildEpochError

EPOCH = 1_700_000_000  # 2023-11-14T22:13:20Z
FILETIME = (EPOCH + 11_644_473_600) * 10_000_000


def _as_pbix_mcp(code: str) -> dict[str, Any]:
    """Run `code` as if it were a module of pbix-mcp (the only callers the patches serve)."""
    scope: dict[str, Any] = {"__name__": "pbix_mcp.under_test"}
    exec(code, scope)
    return scope


_DRAW = "import uuid, secrets\nids = [uuid.uuid4() for _ in range(3)]\n" \
        "tokens = [secrets.token_hex(10) for _ in range(2)]"


# ---- build_epoch --------------------------------------------------------------------------

def _exports(tmp_path: Path, run: dict[str, Any] | None) -> Path:
    if run is not None:
        (tmp_path / "run.json").write_text(json.dumps(run), encoding="utf-8")
    return tmp_path


def test_source_date_epoch_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    assert build_epoch(_exports(tmp_path, {"event_time_max": "2025-01-30T21:58:40"})) == EPOCH


def test_without_it_the_snapshots_newest_event_utc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert build_epoch(_exports(tmp_path, {"event_time_max": "2023-11-14T22:13:20"})) == EPOCH
    offset = {"event_time_max": "2023-11-14T23:13:20+01:00"}
    assert build_epoch(_exports(tmp_path, offset)) == EPOCH


def test_a_stray_row_dated_2100_does_not_date_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watermark (8 customers reached it) dates the snapshot, not one row's year."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    run = {"event_time_max": "2100-01-01T00:00:00", "event_watermark": "2023-11-14T22:13:20"}
    assert build_epoch(_exports(tmp_path, run)) == EPOCH
    with pytest.raises(BuildEpochError, match="event_watermark 'soon'"):
        build_epoch(_exports(tmp_path, {**run, "event_watermark": "soon"}))


@pytest.mark.parametrize("run", [None, {}, {"event_time_max": None}, {"event_time_max": ""}],
                         ids=["no run.json", "no key", "null", "empty"])
def test_else_the_documented_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: dict[str, Any] | None
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "")  # set but empty counts as unset
    assert build_epoch(_exports(tmp_path, run)) == DEFAULT_EPOCH == 315_532_800


@pytest.mark.parametrize("value", ["-1", "1.5", "yesterday", "1e9"])
def test_a_bad_source_date_epoch_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    with pytest.raises(BuildEpochError, match="SOURCE_DATE_EPOCH") as caught:
        build_epoch(tmp_path)
    assert caught.value.exit_code == ExitCode.USAGE


def test_a_bad_event_time_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    with pytest.raises(BuildEpochError, match="event_time_max 'soon'"):
        build_epoch(_exports(tmp_path, {"event_time_max": "soon"}))


def test_zip_dates_are_utc_and_clamped_to_the_format() -> None:
    assert zip_date_time(EPOCH) == (2023, 11, 14, 22, 13, 20)
    assert zip_date_time(DEFAULT_EPOCH) == zip_date_time(0) == (1980, 1, 1, 0, 0, 0)
    assert zip_date_time(DEFAULT_EPOCH + 2) == (1980, 1, 1, 0, 0, 2)
    assert zip_date_time(10**10) == (2107, 12, 31, 23, 59, 58)


# ---- deterministic ------------------------------------------------------------------------

def test_pbix_mcp_draws_follow_the_seed_and_nothing_else() -> None:
    with deterministic(b"seed", EPOCH):
        first = _as_pbix_mcp(_DRAW)
    with deterministic(b"seed", EPOCH):
        again = _as_pbix_mcp(_DRAW)
    with deterministic(b"other", EPOCH):
        other = _as_pbix_mcp(_DRAW)
    assert (first["ids"], first["tokens"]) == (again["ids"], again["tokens"])
    assert not set(first["ids"]) & set(other["ids"])
    assert not set(first["tokens"]) & set(other["tokens"])
    assert len(set(first["ids"])) == 3 and len(set(first["tokens"])) == 2  # all distinct
    assert all(isinstance(i, uuid.UUID) for i in first["ids"])
    assert [len(t) for t in first["tokens"]] == [20, 20]
    int(first["tokens"][0], 16)  # hex


def test_other_callers_and_threads_still_get_randomness() -> None:
    with deterministic(b"seed", EPOCH):
        ours = _as_pbix_mcp(_DRAW)
    with deterministic(b"seed", EPOCH):
        mine = [uuid.uuid4() for _ in range(3)]  # this module is not pbix-mcp
        token = secrets.token_hex(10)
        elsewhere: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: elsewhere.update(_as_pbix_mcp(_DRAW)))
        worker.start()
        worker.join()
        assert _as_pbix_mcp(_DRAW)["ids"] == ours["ids"]  # the building thread: seeded
    assert not set(mine) & set(ours["ids"]) and token not in ours["tokens"]
    assert all(i.version == 4 for i in mine)
    assert not set(elsewhere["ids"]) & set(ours["ids"])
    assert all(i.version == 4 for i in elsewhere["ids"])


def test_everything_is_restored_even_after_an_error() -> None:
    originals = (uuid.uuid4, secrets.token_hex, builder_v2._windows_filetime_now,
                 metadata_schema._windows_filetime_now, builder_v2.generate_db_xml)
    with pytest.raises(RuntimeError), deterministic(b"seed", EPOCH):
        assert builder_v2._windows_filetime_now() == FILETIME
        raise RuntimeError("a failed build")
    assert (uuid.uuid4, secrets.token_hex, builder_v2._windows_filetime_now,
            metadata_schema._windows_filetime_now, builder_v2.generate_db_xml) == originals
    after = _as_pbix_mcp(_DRAW)
    with deterministic(b"seed", EPOCH):
        seeded = _as_pbix_mcp(_DRAW)
    assert not set(after["ids"]) & set(seeded["ids"])


def test_the_clock_is_the_epoch() -> None:
    with deterministic(b"seed", EPOCH):
        assert builder_v2._windows_filetime_now() == FILETIME
        assert metadata_schema._windows_filetime_now() == FILETIME
        db_xml = builder_v2.generate_db_xml("db", "OBJ", "UNIQUE").decode("utf-8")
    assert "<CreatedTimestamp>2023-11-14T22:13:20.000</CreatedTimestamp>" in db_xml
    assert "<LastSchemaUpdate>2023-11-14T22:13:20.000</LastSchemaUpdate>" in db_xml
    assert "<ID>db</ID>" in db_xml and "<ObjectID>OBJ</ObjectID>" in db_xml
    assert abs(builder_v2._windows_filetime_now() - FILETIME) > 10**14  # the clock again


# ---- stable_xpress9 -----------------------------------------------------------------------

ABF = b"".join(f"row {i} value {i * 7 % 13}\n".encode() for i in range(300_000))  # 3 chunks


def _signatures(datamodel: bytes) -> list[bytes]:
    """Every XPress9 block header's session signature (magic 0x4E86D72A)."""
    magic = struct.pack("<I", 0x4E86D72A)
    found, at = [], datamodel.find(magic)
    while at != -1:
        found.append(datamodel[at + 20:at + 24])
        at = datamodel.find(magic, at + 1)
    return found


def test_xpress9_sessions_are_re_signed_from_the_seed() -> None:
    one, two = compress_datamodel(ABF), compress_datamodel(ABF)
    assert one != two  # the encoder signs each session from the CPU clock
    assert len(_signatures(one)) == 3  # one block per 2 MiB chunk, one session
    stable = stable_xpress9(one, b"seed")
    assert stable == stable_xpress9(two, b"seed") != stable_xpress9(one, b"other")
    assert decompress_datamodel(stable) == ABF
    assert len(set(_signatures(stable))) == 1 and _signatures(stable) != _signatures(one)
    assert len(stable) == len(one)


def test_an_uncompressed_datamodel_is_left_as_is() -> None:
    uncompressed = b"\xff\xfe" + "STREAM_STORAGE_SIGNATURE_)!@#$%^&*(".encode("utf-16le") + ABF
    assert stable_xpress9(uncompressed, b"seed") == uncompressed


def test_a_stream_that_is_not_xpress9_blocks_is_refused() -> None:
    broken = bytearray(compress_datamodel(ABF))
    broken[110:114] = b"XXXX"  # the first block's magic
    with pytest.raises(ValueError, match="not an XPress9 block header"):
        stable_xpress9(bytes(broken), b"seed")


# ---- canonical_zip and input_digest -------------------------------------------------------

def _zip(path: Path, entries: list[tuple[str, bytes, tuple[int, ...], int]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content, date_time, mode in entries:
            info = zipfile.ZipInfo(name, date_time=date_time)  # type: ignore[arg-type]
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_STORED if name == "Version" else \
                zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return path


def test_canonical_zip_keeps_content_and_drops_order_dates_and_modes(tmp_path: Path) -> None:
    parts = [("Version", b"1.28"), ("Report/definition/report.json", b"{}"),
             ("[Content_Types].xml", b"<Types/>"), ("DiagramLayout", b"{}")]
    a = _zip(tmp_path / "a.zip", [(n, c, (2026, 11, 30, 16, 17, 2), 0o100600) for n, c in parts])
    b = _zip(tmp_path / "b.zip", [(n, c, (2024, 1, 2, 3, 4, 6), 0o100664)
                                  for n, c in reversed(parts)])
    canonical_zip(a, tmp_path / "a2.zip", EPOCH, b"seed")
    canonical_zip(b, tmp_path / "b2.zip", EPOCH, b"seed")
    assert (tmp_path / "a2.zip").read_bytes() == (tmp_path / "b2.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a2.zip") as archive:
        infos = archive.infolist()
        assert {i.filename: archive.read(i) for i in infos} == dict(parts)
    assert [i.filename for i in infos] == ["[Content_Types].xml", "DiagramLayout",
                                           "Report/definition/report.json", "Version"]
    assert {i.date_time for i in infos} == {(2023, 11, 14, 22, 13, 20)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert {i.filename: i.compress_type for i in infos}["Version"] == zipfile.ZIP_STORED
    canonical_zip(a, tmp_path / "later.zip", EPOCH + 3600, b"seed")
    assert (tmp_path / "later.zip").read_bytes() != (tmp_path / "a2.zip").read_bytes()


def test_input_digest_follows_what_the_build_reads(tmp_path: Path) -> None:
    (tmp_path / f"{NAME}.pbip").write_text("{}", encoding="utf-8")
    model = tmp_path / f"{NAME}.SemanticModel" / "definition"
    model.mkdir(parents=True)
    (model / "model.tmdl").write_text("model Model", encoding="utf-8")
    (tmp_path / f"{NAME}.Report").mkdir()
    digest = input_digest(tmp_path, ["rows", "m"])
    (model / "model.tmdl").touch()
    cache = tmp_path / f"{NAME}.SemanticModel" / ".pbi"  # Desktop's, beside the project
    cache.mkdir()
    (cache / "cache.abf").write_bytes(b"opened in Desktop")
    assert input_digest(tmp_path, ["rows", "m"]) == digest
    (tmp_path / f"{NAME}.Report" / "definition.pbir").write_text("{}", encoding="utf-8")
    assert input_digest(tmp_path, ["rows", "m"]) != digest  # pbix-mcp reads this one
    (tmp_path / f"{NAME}.Report" / "definition.pbir").unlink()
    assert input_digest(tmp_path, ["rows", "m2"]) != digest
    assert input_digest(tmp_path, ["row", "sm"]) != digest  # payload boundaries count
    (model / "model.tmdl").write_text("model Model2", encoding="utf-8")
    assert input_digest(tmp_path, ["rows", "m"]) != digest
