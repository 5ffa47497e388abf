"""Byte-reproducible `.pbix` builds: the same inputs give the same file, whenever it is built.

pbix-mcp (0.9.149) puts three things into the file that differ between runs:

- random ids: `uuid.uuid4()` (the ABF's database name and ID, its ObjectID and DbUniqueId,
  column lineage tags, relationship names) and `secrets.token_hex(10)` (every ABF file's
  StoragePath);
- the wall clock: `_windows_filetime_now()` of `builder_v2` (the ABF's file times) and of
  `formats.metadata_schema` (the model's ModifiedTime), and `builder_v2.generate_db_xml`'s
  CreatedTimestamp;
- the outer ZIP, written by walking a scratch folder: each entry's date is its file's mtime
  (the report's JSON keeps the checkout's), its mode the umask's, its order the directory's.

and the XPress9 encoder (the `xpress9` C extension) stamps every block of the compressed
DataModel with a session signature, the CRC-32C of the CPU's time-stamp counter (`__rdtsc`).

`deterministic` makes the first two functions of the build's inputs while one build runs
and restores them afterwards; `canonical_zip` rewrites the saved ZIP, and in it
`stable_xpress9` the DataModel's session signatures (and each block header's CRC), checked
by decompressing both streams to the same bytes. Patching pbix-mcp's entropy at its source
was chosen over rewriting the ABF afterwards (ids and times sit in XML, a SQLite file and
the file layout: re-deriving the library's work) and over a fork (70,000 lines to keep in
step with the pin); the XPress9 signature is inside C, so it is rewritten afterwards.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import secrets
import struct
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dashboard.report import read_run
from dashboard.spec import NAME
from shared.exports_folder import RUN_FILE
from shared.source_date import BuildEpochError, source_date_epoch

#: 1980-01-01T00:00:00Z: the earliest date a ZIP entry can hold; the build time of a
#: snapshot whose run.json names no event time and no SOURCE_DATE_EPOCH is set.
DEFAULT_EPOCH = 315_532_800
_ZIP_MAX_EPOCH = 4_354_819_198  # 2107-12-31T23:59:58Z, the last date a ZIP entry can hold
_FILETIME_OFFSET = 11_644_473_600  # seconds from 1601-01-01 (FILETIME's start) to 1970
#: UUIDv5 namespace of the ids that stand in for pbix-mcp's uuid4 values.
_NS = uuid.UUID("0c6f3f4e-8d0a-5b7e-9a51-6b2d7c1e4f38")
_CONTENT_TYPES, _DATAMODEL = "[Content_Types].xml", "DataModel"
_XPRESS9_MAGIC = 0x4E86D72A
_LOCK = threading.RLock()


def build_epoch(exports_dir: Path) -> int:
    """The build's time in Unix seconds: SOURCE_DATE_EPOCH when set (the reproducible-builds
    convention), else how far the snapshot's event time got (run.json's `event_watermark`,
    the latest time 8 customers reached, so one row dated 2100 does not date the file; else
    `event_time_max`; UTC when it names no offset), else `DEFAULT_EPOCH`. Never the clock."""
    epoch = source_date_epoch()
    if epoch is not None:
        return epoch
    run = exports_dir / RUN_FILE
    data = read_run(run)  # a run.json not a JSON object: exit 2
    field = "event_watermark" if data.get("event_watermark") else "event_time_max"
    newest = data.get(field)
    if not newest:
        return DEFAULT_EPOCH
    try:
        moment = dt.datetime.fromisoformat(newest)
    except (TypeError, ValueError) as exc:
        raise BuildEpochError(f"{run}: {field} {newest!r} is not an ISO time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return max(int(moment.timestamp()), 0)


def zip_date_time(epoch: int) -> tuple[int, int, int, int, int, int]:
    """`epoch` as a ZIP entry's (UTC) date, clamped to the range the format holds."""
    year, month, day, hour, minute, second = time.gmtime(
        min(max(epoch, DEFAULT_EPOCH), _ZIP_MAX_EPOCH))[:6]
    return year, month, day, hour, minute, second


def input_digest(project_root: Path, payloads: Iterable[str]) -> bytes:
    """SHA-256 of what a build reads: the PBIP files pbix-mcp opens (by relative path; not
    what Desktop caches beside them in `.pbi/`) and the payloads handed to it (table rows,
    queries), in order."""
    digest = hashlib.sha256()
    model, report = project_root / f"{NAME}.SemanticModel", project_root / f"{NAME}.Report"
    files = [p for p in (project_root / f"{NAME}.pbip", report / "definition.pbir",
                         report / "report.json") if p.is_file()]
    for folder in (model / "definition", report / "definition", report / "StaticResources"):
        files += [p for p in folder.rglob("*") if p.is_file()]
    for path in sorted(files, key=lambda p: p.relative_to(project_root).as_posix()):
        content = path.read_bytes()
        digest.update(f"{path.relative_to(project_root).as_posix()}\0{len(content)}\0".encode())
        digest.update(content)
    for payload in payloads:
        data = payload.encode("utf-8")
        digest.update(f"\0payload\0{len(data)}\0".encode())
        digest.update(data)
    return digest.digest()


def _from_pbix_mcp(frame_depth: int, owner: int) -> bool:
    """Whether the caller `frame_depth` frames up is pbix-mcp code on the building thread."""
    if threading.get_ident() != owner:
        return False
    caller = sys._getframe(frame_depth).f_globals.get("__name__", "")
    return isinstance(caller, str) and caller.startswith("pbix_mcp.")


@contextlib.contextmanager
def deterministic(seed: bytes, epoch: int) -> Iterator[None]:
    """While the block runs, pbix-mcp's random ids and clock are functions of `seed` and
    `epoch`; everything is restored when it ends.

    The n-th `uuid.uuid4()` pbix-mcp calls is UUIDv5(seed, n); the n-th `secrets.token_hex(k)`
    the first k bytes of SHAKE-256(seed, n). Only calls made by pbix-mcp's own modules on the
    thread that entered the block get these: any other caller (another thread, this
    project, a library) still gets real randomness. One build at a time per process (a lock).
    """
    import pbix_mcp.builder_v2 as v2  # type: ignore[import-untyped]
    import pbix_mcp.formats.metadata_schema as schema  # type: ignore[import-untyped]

    with _LOCK:
        owner = threading.get_ident()
        ordinal = itertools.count()
        real_uuid4, real_token_hex = uuid.uuid4, secrets.token_hex
        filetime = (epoch + _FILETIME_OFFSET) * 10_000_000
        stamp = dt.datetime.fromtimestamp(epoch, dt.UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.%f")[:-3]

        def uuid4() -> uuid.UUID:
            if not _from_pbix_mcp(2, owner):
                return real_uuid4()
            return uuid.uuid5(_NS, f"{seed.hex()}/uuid4/{next(ordinal)}")

        def token_hex(nbytes: int | None = None) -> str:
            if not _from_pbix_mcp(2, owner):
                return real_token_hex(nbytes)
            size = 32 if nbytes is None else nbytes
            return hashlib.shake_256(
                seed + f"/token_hex/{next(ordinal)}".encode()).hexdigest(size)

        def generate_db_xml(db_id: str, object_id: str, db_unique_id: str) -> bytes:
            text: str = v2._DB_XML_TEMPLATE.format(
                db_id=db_id, object_id=object_id, db_unique_id=db_unique_id, timestamp=stamp)
            return text.encode("utf-8")

        patches: list[tuple[Any, str, Any]] = [
            (uuid, "uuid4", uuid4), (secrets, "token_hex", token_hex),
            (v2, "_windows_filetime_now", lambda: filetime),
            (schema, "_windows_filetime_now", lambda: filetime),
            (v2, "generate_db_xml", generate_db_xml)]
        saved = [(target, name, getattr(target, name)) for target, name, _ in patches]
        try:
            for target, name, value in patches:
                setattr(target, name, value)
            yield
        finally:
            for target, name, value in reversed(saved):
                setattr(target, name, value)


def _crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli), the checksum of an XPress9 block header."""
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def stable_xpress9(datamodel: bytes, seed: bytes) -> bytes:
    """`datamodel` with each XPress9 session signed from `seed` instead of the CPU clock.

    A block header is eight u32: magic, original size, size in bits (header included), flags,
    reserved 0, session signature, block index, CRC-32C of the first seven. The decoder only
    checks that a session's blocks share the first one's signature and each header's CRC,
    so session group g is signed SHA-256(seed, g)[:4] and its CRCs recomputed; the result
    must decompress to the same ABF, else this refuses.
    """
    from pbix_mcp.formats import datamodel_roundtrip as dm

    fmt = dm._detect_format(datamodel)
    if fmt == "uncompressed":
        return datamodel
    table = dm._read_chunk_table(datamodel, fmt)
    out = bytearray(datamodel)
    for group in range(table.group_count):
        signature = hashlib.sha256(seed + f"/xpress9/{group}".encode()).digest()[:4]
        for chunk in table.chunks_of(group):
            at, end = table.at[chunk], table.at[chunk] + table.length[chunk]
            while at < end:
                magic, _, bits = struct.unpack_from("<3I", out, at)
                if magic != _XPRESS9_MAGIC or bits < 256:
                    raise ValueError(f"DataModel byte {at:,}: not an XPress9 block header")
                out[at + 20:at + 24] = signature
                crc = _crc32c(bytes(out[at:at + 28]), struct.unpack_from("<I", out, at + 16)[0])
                struct.pack_into("<I", out, at + 28, crc)
                at += (bits + 7) // 8
            if at != end:
                raise ValueError(f"DataModel chunk {chunk}: blocks overrun its payload")
    stable = bytes(out)
    if dm.decompress_datamodel(stable) != dm.decompress_datamodel(datamodel):
        raise ValueError("re-signed DataModel does not decompress to the same model")
    return stable


def canonical_zip(source: Path, target: Path, epoch: int, seed: bytes) -> None:
    """Rewrite the ZIP `source` as `target` with nothing of the machine or the moment in it:
    `[Content_Types].xml` first (as OPC packages put it) then every entry by name, each
    dated `epoch` (UTC), a Unix regular file 0644, its compression method kept (deflate at
    zlib's default level), its content kept but the DataModel's (`stable_xpress9`)."""
    date_time = zip_date_time(epoch)
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in sorted(src.infolist(),
                           key=lambda i: (i.filename != _CONTENT_TYPES, i.filename)):
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = info.compress_type
            entry.create_system = 3
            entry.external_attr = 0o100644 << 16
            content = src.read(info.filename)
            if info.filename == _DATAMODEL:
                content = stable_xpress9(content, seed)
            dst.writestr(entry, content)
